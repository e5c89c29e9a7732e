package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/contactbatch/batch/internal/fsync"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"modernc.org/sqlite"
)

// SQLite primary result codes that mean the file is damaged.
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteIOErr    = 10
	sqliteCorrupt  = 11
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteNotADB   = 26
)

// dsnKind selects how a connection is opened.
type dsnKind int

const (
	dsnWriter   dsnKind = iota // read-write, BEGIN IMMEDIATE, WAL, synchronous
	dsnReader                  // query_only connection of a writable database
	dsnReadOnly                // mode=ro, for a database another process writes
)

// syncMode is the PRAGMA synchronous setting of writer connections.
type syncMode string

const (
	syncNormal syncMode = "NORMAL"
	syncFull   syncMode = "FULL"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// dsn builds a modernc.org/sqlite DSN for path.
func dsn(path string, kind dsnKind, sync syncMode) string {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	q := []string{"_pragma=busy_timeout(10000)"}
	switch kind {
	case dsnWriter:
		q = append(q, "_pragma=journal_mode(WAL)", "_pragma=synchronous("+string(sync)+")", "_txlock=immediate")
	case dsnReader:
		q = append(q, "_pragma=query_only(1)")
	case dsnReadOnly:
		q = append(q, "mode=ro", "_pragma=query_only(1)")
	}
	return "file:" + p + "?" + strings.Join(q, "&")
}

// openDB opens a database handle limited to n connections. Switching a
// new database to WAL answers SQLITE_BUSY at once (no busy handler) while
// another process does the same, as two runs starting together on one
// cache do: that is retried with backoff for up to openBusyWait.
func openDB(ctx context.Context, dsn string, n int) (*sql.DB, error) {
	open := func() (*sql.DB, error) {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			var se *sqlite.Error
			if errors.As(err, &se) && (se.Code()&0xff == sqliteBusy || se.Code()&0xff == sqliteLocked) {
				return nil, err
			}
			return nil, backoff.Permanent(err)
		}
		return db, nil
	}
	b := backoff.NewExponentialBackOff(backoff.WithInitialInterval(5*time.Millisecond), backoff.WithMaxInterval(200*time.Millisecond),
		backoff.WithMaxElapsedTime(openBusyWait))
	return backoff.RetryWithData(open, backoff.WithContext(b, ctx))
}

// openBusyWait bounds openDB's retries, like busy_timeout bounds a query's.
const openBusyWait = 10 * time.Second

// sqlErr maps SQLite's corruption codes to ErrCorrupt, keeping the original.
func sqlErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteCorrupt, sqliteNotADB:
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return err
}

// createPrivate creates path with mode 0600 if it does not exist and makes
// sure an existing file we own is not readable by others.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// chmodSidecars sets 0600 on SQLite's -wal and -shm files when they exist.
// SQLite already creates them with the database file's mode; this is a
// belt-and-braces pass.
func chmodSidecars(path string) error {
	for _, s := range []string{"-wal", "-shm"} {
		if err := os.Chmod(path+s, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// mkdirPrivate creates dir (and missing parents) with mode 0700. A directory
// that already exists is left as it is.
func mkdirPrivate(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// writeFileAtomic writes data to path through a temp file in the same
// directory: write, fsync, rename, fsync(dir). The file ends up 0600.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return fsync.Dir(dir)
}
