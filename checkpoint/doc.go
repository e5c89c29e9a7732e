// Package checkpoint keeps a batch run's on-disk state: the Ledger, a
// crash-safe record of one job in its state directory, and the Cache, which
// keeps API results across runs.
//
// # Ledger layout
//
// A state directory holds:
//
//	LOCK          flock(2)ed exclusively by the process that opened the ledger,
//	              as is the directory itself (an inode the ledger keeps open, so
//	              deleting LOCK does not let a second process in); the kernel
//	              drops both locks when that process dies, even on kill -9
//	ledger.db     SQLite (modernc.org/sqlite, WAL) plus its -wal and -shm files
//	results.log   append-only log of API answers, checksummed per record
//	job.json      marker written at Start (temp, fsync, rename, dir fsync): the
//	              ledger's id, the job identity and the key secret, checksummed
//
// Every file is created 0600 and a directory created here 0700, whatever the
// umask.
//
// # Durability
//
// The database runs in WAL mode with synchronous=NORMAL. A write is in the
// WAL (in the kernel's page cache) when PutResult, PutPending, DeletePending
// or Commit returns, so it survives the process dying at any point (kill -9,
// OOM kill, panic). It does not survive a power loss or a kernel crash before
// the next WAL checkpoint: that can lose the last commits, whose rows are
// then re-read and whose API calls may be paid again, but it never tears the
// database. Start and Reset checkpoint the WAL (fsync) before touching
// job.json, so the marker is never ahead of the database even after a power
// loss. (Why NORMAL, with figures: docs/DESIGN.md.)
//
// # Results log
//
// PutResult appends the answer to results.log (see journal.go for the
// format) rather than inserting it into the database. Appends are
// group-committed (the first caller writes every queued record in one
// write(2), the others wait for it) and indexed in memory by key, so Result
// reads the latest record with one pread. Every Commit fsyncs the log and
// records its length with the progress; every record below that length must
// be intact (else ErrCorrupt), a torn tail after it is cut at Open. When the
// log holds DefaultRotateAt records they are moved into the result table in
// key order and a new log generation starts, so the in-memory index stays
// bounded; appends wait meanwhile.
//
// # Group commit
//
// All writes go through one writer goroutine. It takes whatever is queued
// (up to DefaultMaxBatch operations), writes it in one transaction, commits
// as soon as the previous transaction finished (no timer) and then wakes
// every caller. A caller whose context ends while waiting gets ctx.Err(); its write
// may or may not have been committed, and other callers' writes are never
// affected.
//
// # Corruption
//
// The ledger never silently starts over. Open reports ErrCorrupt when the
// marker and the database disagree (database deleted, truncated to zero or
// replaced, marker deleted under a job that has progress), when the results
// log is missing, shorter than its last commit, damaged below it or from
// another ledger, when SQLite reports a malformed file, or when the set of stored result keys does not
// match the count and digest recorded with every commit (a full scan of the
// key index at Open). Every row carries a CRC-32C that is checked on every
// read; a mismatch is ErrCorrupt.
//
// # Keys at rest
//
// Result keys (normalized emails, LinkedIn URLs, domains) are stored as
// HMAC-SHA256 with a random secret: the ledger's in job.json, the cache's in
// a file beside the cache. Pending poll handles keep their keys as given (they
// are needed to route a poll's answer back) until the handle is resolved.
// Result data is stored as given.
package checkpoint
