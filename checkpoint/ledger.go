package checkpoint

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// ErrLocked is returned by Open when another process holds the state
// directory. The wrapping error names the directory and what to do.
var ErrLocked = errors.New("checkpoint: state directory is locked")

// ErrCorrupt is returned when the ledger is unreadable, truncated or
// inconsistent. The ledger is never silently treated as a fresh job: the
// user must inspect the state directory or start over explicitly.
var ErrCorrupt = errors.New("checkpoint: ledger is corrupt")

// ErrNoJob is returned by Job, Progress and the writes when the state
// directory holds no started job.
var ErrNoJob = errors.New("checkpoint: no job in state directory")

// errReadOnly is returned by writes on a ledger from OpenReadOnly.
var errReadOnly = errors.New("checkpoint: ledger is open read-only")

// File names inside a state directory.
const (
	lockName   = "LOCK"
	dbName     = "ledger.db"
	markerName = "job.json"
)

// DefaultReaders is the size of a ledger's read connection pool.
const DefaultReaders = 4

// Ledger is one job's durable state in a state directory. It is safe for
// concurrent use. Writes are group-committed by one writer goroutine.
type Ledger struct {
	dir      string
	readOnly bool
	lock     *dirLock

	wdb  *sql.DB // one connection, owned by w
	conn *sql.Conn
	w    *writer
	st   *stmts

	rdb    *sql.DB
	getRes *sql.Stmt

	j    *journal // the results log
	opts options  // rotation settings among them

	mu  sync.RWMutex
	key *keyer // nil until a job is started

	closeOnce sync.Once
	closeErr  error
}

// options are Open's tunables; tests and benchmarks change them.
type options struct {
	sync     syncMode
	maxBatch int
	rotateAt int
	// rotateAt is how many results-log records trigger a rotation;
	// rotateChunk how many records one rotation transaction moves;
	// afterChunk, when set, runs before each transaction after the first
	// (tests inject failures).
	rotateChunk int
	afterChunk  func(n int) error
}

func defaultOptions() options {
	return options{sync: syncNormal, maxBatch: DefaultMaxBatch, rotateAt: DefaultRotateAt, rotateChunk: defaultRotateChunk}
}

// Open opens (creating if needed) the ledger in dir and takes the directory's
// lock. It returns ErrLocked if another process holds it and ErrCorrupt if
// the state cannot be trusted. The directory is created 0700, files 0600.
func Open(ctx context.Context, dir string) (*Ledger, error) {
	return open(ctx, dir, defaultOptions())
}

func open(ctx context.Context, dir string, o options) (_ *Ledger, err error) {
	if err := mkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("checkpoint: create state directory %s: %w", dir, err)
	}
	lock, err := lockDir(dir, filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	l := &Ledger{dir: dir, lock: lock, opts: o}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	m, err := readMarker(l.path(markerName))
	if err != nil {
		return nil, err
	}
	dbPath := l.path(dbName)
	fi, statErr := os.Stat(dbPath)
	switch {
	case statErr != nil && !errors.Is(statErr, os.ErrNotExist):
		return nil, fmt.Errorf("checkpoint: stat %s: %w", dbPath, statErr)
	case m != nil && statErr != nil:
		return nil, fmt.Errorf("%w: %s is missing but %s records a started job", ErrCorrupt, dbPath, markerName)
	case m != nil && fi.Size() == 0:
		return nil, fmt.Errorf("%w: %s is empty but %s records a started job", ErrCorrupt, dbPath, markerName)
	case statErr != nil:
		// A fresh directory: leftovers of a deleted database must not be
		// replayed into the new one.
		for _, p := range []string{dbPath + "-wal", dbPath + "-shm", l.path(journalName)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("checkpoint: remove stale %s: %w", p, err)
			}
		}
	}
	if err := createPrivate(dbPath); err != nil {
		return nil, fmt.Errorf("checkpoint: create %s: %w", dbPath, err)
	}
	if l.wdb, err = openDB(ctx, dsn(dbPath, dsnWriter, o.sync), 1); err != nil {
		return nil, l.dbErr("open", err)
	}
	if l.conn, err = l.wdb.Conn(ctx); err != nil {
		return nil, l.dbErr("open", err)
	}
	if err := chmodSidecars(dbPath); err != nil {
		return nil, fmt.Errorf("checkpoint: chmod %s: %w", dbPath, err)
	}
	if err := l.initSchema(ctx, m != nil); err != nil {
		return nil, err
	}
	if l.st, err = prepareStmts(ctx, l.conn); err != nil {
		return nil, err
	}
	ks, err := l.check(ctx, l.conn, m, l.st)
	if err != nil {
		return nil, err
	}
	if l.rdb, err = openDB(ctx, dsn(dbPath, dsnReader, o.sync), DefaultReaders); err != nil {
		return nil, l.dbErr("open", err)
	}
	if err := l.prepareReads(ctx); err != nil {
		return nil, err
	}
	if err := chmodSidecars(dbPath); err != nil {
		return nil, fmt.Errorf("checkpoint: chmod %s: %w", dbPath, err)
	}
	l.w = newWriter(l.conn, l.st, ks, o.maxBatch)
	return l, nil
}

// OpenReadOnly opens the ledger in dir without taking its lock, for `batch
// status` while a run holds it. Writes fail. It returns ErrNoJob when dir
// holds no started job.
func OpenReadOnly(ctx context.Context, dir string) (_ *Ledger, err error) {
	l := &Ledger{dir: dir, readOnly: true}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	m, err := readMarker(l.path(markerName))
	if err != nil {
		return nil, err
	}
	dbPath := l.path(dbName)
	fi, statErr := os.Stat(dbPath)
	switch {
	case m == nil:
		return nil, fmt.Errorf("%w: %s", ErrNoJob, dir)
	case statErr != nil && errors.Is(statErr, os.ErrNotExist):
		return nil, fmt.Errorf("%w: %s is missing but %s records a started job", ErrCorrupt, dbPath, markerName)
	case statErr != nil:
		return nil, fmt.Errorf("checkpoint: stat %s: %w", dbPath, statErr)
	case fi.Size() == 0:
		return nil, fmt.Errorf("%w: %s is empty but %s records a started job", ErrCorrupt, dbPath, markerName)
	}
	if l.rdb, err = openDB(ctx, dsn(dbPath, dsnReadOnly, syncNormal), DefaultReaders); err != nil {
		return nil, l.dbErr("open", err)
	}
	c, err := l.rdb.Conn(ctx)
	if err != nil {
		return nil, l.dbErr("open", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, l.dbErr("begin", err)
	}
	_, err = l.check(ctx, c, m, nil)
	c.ExecContext(context.Background(), "ROLLBACK")
	if err != nil {
		return nil, err
	}
	if err := l.prepareReads(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Ledger) path(name string) string { return filepath.Join(l.dir, name) }

func (l *Ledger) dbErr(what string, err error) error {
	return sqlErr(fmt.Errorf("checkpoint: %s %s: %w", what, l.path(dbName), err))
}

func (l *Ledger) prepareReads(ctx context.Context) error {
	var err error
	l.getRes, err = l.rdb.PrepareContext(ctx, `SELECT kind, status, verdict, data, fetched, sum FROM result WHERE k = ?`)
	if err != nil {
		return l.dbErr("prepare", err)
	}
	return nil
}

// initSchema creates the tables of a new database. An existing database
// must be a complete ledger.
func (l *Ledger) initSchema(ctx context.Context, started bool) error {
	var n int
	if err := l.conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		return l.dbErr("read schema of", err)
	}
	if n > 0 {
		return nil
	}
	if started {
		return fmt.Errorf("%w: %s holds no ledger but %s records a started job", ErrCorrupt, l.path(dbName), markerName)
	}
	id := make([]byte, 16)
	rand.Read(id)
	tx, err := l.conn.BeginTx(ctx, nil)
	if err != nil {
		return l.dbErr("begin", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, ledgerSchema); err != nil {
		return l.dbErr("create schema in", err)
	}
	for k, v := range map[string][]byte{"schema": []byte(schemaVersion), "ledger_id": []byte(hex.EncodeToString(id)), "keyset": keySet{}.encode(),
		"rlog": newJournalMeta(1).encode()} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?)`, k, v); err != nil {
			return l.dbErr("create schema in", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return l.dbErr("create schema in", err)
	}
	return nil
}

// check verifies the database against the marker m (nil when absent) and
// itself, repairs the two states a crash inside Start or Reset can leave
// (when st is not nil, i.e. not read-only), and returns the result key set.
func (l *Ledger) check(ctx context.Context, c *sql.Conn, m *marker, st *stmts) (keySet, error) {
	meta, err := l.readMeta(ctx, c)
	if err != nil {
		return keySet{}, err
	}
	ks, err := l.checkMeta(meta, m)
	if err != nil {
		return ks, err
	}
	j, err := readJob(ctx, c)
	if err != nil && !errors.Is(err, ErrNoJob) {
		return ks, err
	}
	p, err := readProgress(ctx, c)
	if err != nil {
		return ks, err
	}
	var npending int64
	if err := c.QueryRowContext(ctx, `SELECT count(*) FROM pending`).Scan(&npending); err != nil {
		return ks, l.corruptOr("count pending in", err)
	}
	jm := newJournalMeta(1) // a ledger written before the results log existed
	if b, ok := meta["rlog"]; ok {
		if jm, err = decodeJournalMeta(b); err != nil {
			return ks, err
		}
	}
	jl, nlogged, err := openJournal(l.dir, string(meta["ledger_id"]), jm, st == nil)
	if err != nil {
		return ks, err
	}
	l.j = jl
	empty := ks.N == 0 && npending == 0 && p == nil && nlogged == 0
	if m, err = l.reconcile(ctx, c, m, j, empty, st != nil); err != nil {
		return ks, err
	}
	if err := l.scanKeys(ctx, c, ks); err != nil {
		return ks, err
	}
	if m != nil {
		secret, _ := hex.DecodeString(m.Secret)
		k := newKeyer(secret)
		l.key = &k
	}
	return ks, nil
}

// readMeta reads the meta table.
func (l *Ledger) readMeta(ctx context.Context, c *sql.Conn) (map[string][]byte, error) {
	rows, err := c.QueryContext(ctx, `SELECT k, v FROM meta`)
	if err != nil {
		return nil, l.corruptOr("read meta of", err)
	}
	defer rows.Close()
	meta := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, l.corruptOr("read meta of", err)
		}
		meta[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, l.corruptOr("read meta of", err)
	}
	return meta, nil
}

// checkMeta checks the schema version and that the database is the
// marker's, and returns the stored key set.
func (l *Ledger) checkMeta(meta map[string][]byte, m *marker) (keySet, error) {
	if string(meta["schema"]) != schemaVersion || len(meta["ledger_id"]) == 0 {
		return keySet{}, fmt.Errorf("%w: %s is not a version %s ledger", ErrCorrupt, l.path(dbName), schemaVersion)
	}
	ks, err := decodeKeySet(meta["keyset"])
	if err != nil {
		return ks, err
	}
	if m != nil && m.LedgerID != string(meta["ledger_id"]) {
		return ks, fmt.Errorf("%w: %s belongs to another ledger than %s (database replaced?)", ErrCorrupt, l.path(dbName), markerName)
	}
	return ks, nil
}

// reconcile compares the marker m with the job j the database holds
// (either may be nil) and repairs, when writable, what a crash inside
// Start or Reset leaves; it returns the marker that stands. empty reports
// that the ledger holds no result, pending handle or progress.
func (l *Ledger) reconcile(ctx context.Context, c *sql.Conn, m *marker, j *Job, empty, writable bool) (*marker, error) {
	switch {
	case m != nil && j == nil:
		// Reset committed, the marker removal did not happen.
		if !empty {
			return m, fmt.Errorf("%w: %s records a job that %s does not hold", ErrCorrupt, markerName, l.path(dbName))
		}
		if writable {
			if err := removeMarker(l.path(markerName), l.dir); err != nil {
				return m, err
			}
		}
		return nil, nil
	case m == nil && j != nil:
		// Start committed, the marker was never written: nothing was done
		// under that job yet, so it is dropped. With work done, the marker
		// was lost.
		if !empty {
			return m, fmt.Errorf("%w: %s holds a job with progress but %s is missing", ErrCorrupt, l.path(dbName), markerName)
		}
		if writable {
			if _, err := c.ExecContext(ctx, `DELETE FROM job`); err != nil {
				return m, l.dbErr("drop unstarted job in", err)
			}
		}
	case m == nil && !empty:
		return m, fmt.Errorf("%w: %s holds results but no job", ErrCorrupt, l.path(dbName))
	case m != nil && (j.Identity != m.Identity || j.Fingerprint != m.Fingerprint):
		return m, fmt.Errorf("%w: job in %s does not match %s", ErrCorrupt, l.path(dbName), markerName)
	}
	return m, nil
}

// scanKeys recomputes the result key set from the key index and compares it
// with the stored summary.
func (l *Ledger) scanKeys(ctx context.Context, c *sql.Conn, want keySet) error {
	rows, err := c.QueryContext(ctx, `SELECT k FROM result INDEXED BY sqlite_autoindex_result_1`)
	if err != nil {
		return l.corruptOr("scan results of", err)
	}
	defer rows.Close()
	var got keySet
	var k []byte
	for rows.Next() {
		if err := rows.Scan(&k); err != nil {
			return l.corruptOr("scan results of", err)
		}
		if len(k) != len(got.X) {
			return fmt.Errorf("%w: %s holds a malformed result key", ErrCorrupt, l.path(dbName))
		}
		got.add(k)
	}
	if err := rows.Err(); err != nil {
		return l.corruptOr("scan results of", err)
	}
	if got != want {
		return fmt.Errorf("%w: %s holds %d result keys, its last commit recorded %d (or their digest differs)", ErrCorrupt, l.path(dbName), got.N, want.N)
	}
	return nil
}

// corruptOr wraps err from reading the ledger's own structures: unless it
// is a context, I/O, lock or resource error, it means they are damaged.
func (l *Ledger) corruptOr(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return l.dbErr(what, err)
		}
	}
	return fmt.Errorf("%w: %s %s: %w", ErrCorrupt, what, l.path(dbName), err)
}

// Close stops the writer after the batch in progress, closes the database
// and releases the lock. Writes after Close fail.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		if l.w != nil {
			l.w.close()
		}
		if l.j != nil {
			errs = append(errs, l.j.close())
		}
		if l.getRes != nil {
			errs = append(errs, l.getRes.Close())
		}
		if l.rdb != nil {
			errs = append(errs, l.rdb.Close())
		}
		if l.st != nil {
			errs = append(errs, l.st.close())
		}
		if l.conn != nil {
			errs = append(errs, l.conn.Close())
		}
		if l.wdb != nil {
			errs = append(errs, l.wdb.Close())
		}
		if l.lock != nil {
			errs = append(errs, l.lock.Close())
		}
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("checkpoint: close %s: %w", l.dir, err)
		}
	})
	return l.closeErr
}

// Job describes the job a state directory belongs to. The runner compares it
// with the command line to refuse resuming a different job.
type Job struct {
	Identity    string
	Input       string
	Fingerprint string
	Options     json.RawMessage
	Header      []string
	CreatedAt   time.Time
}

// Job returns the started job, or ErrNoJob on a fresh state directory.
func (l *Ledger) Job(ctx context.Context) (*Job, error) {
	c, err := l.rdb.Conn(ctx)
	if err != nil {
		return nil, l.dbErr("read job from", err)
	}
	defer c.Close()
	return readJob(ctx, c)
}

func readJob(ctx context.Context, c *sql.Conn) (*Job, error) {
	var doc []byte
	var sum int64
	err := c.QueryRowContext(ctx, `SELECT doc, sum FROM job WHERE id = 1`).Scan(&doc, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoJob
	}
	if err != nil {
		return nil, sqlErr(fmt.Errorf("checkpoint: read job: %w", err))
	}
	var j Job
	if docSum(string(doc)) != sum {
		return nil, fmt.Errorf("%w: job record fails its checksum", ErrCorrupt)
	}
	if err := json.Unmarshal(doc, &j); err != nil {
		return nil, fmt.Errorf("%w: job record: %v", ErrCorrupt, err)
	}
	return &j, nil
}

// Start records j as the state directory's job: first in the database, then
// in job.json. It fails if a job is already started (Reset first).
func (l *Ledger) Start(ctx context.Context, j Job) error {
	if l.readOnly {
		return errReadOnly
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.key != nil {
		return errors.New("checkpoint: a job is already started in this state directory")
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = time.Now()
	}
	j.CreatedAt = j.CreatedAt.UTC()
	doc, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("checkpoint: encode job: %w", err)
	}
	var ledgerID []byte
	err = l.w.doSync(ctx, func(ctx context.Context, t *txn) error {
		if err := t.conn.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'ledger_id'`).Scan(&ledgerID); err != nil {
			return fmt.Errorf("checkpoint: read ledger id: %w", err)
		}
		if _, err := t.conn.ExecContext(ctx, `INSERT OR REPLACE INTO job (id, doc, sum) VALUES (1, ?, ?)`, doc, docSum(string(doc))); err != nil {
			return fmt.Errorf("checkpoint: store job: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	m := marker{LedgerID: string(ledgerID), Identity: j.Identity, Fingerprint: j.Fingerprint, Secret: hex.EncodeToString(secret), CreatedAt: j.CreatedAt}
	if err := writeMarker(l.path(markerName), m); err != nil {
		// Leave no half-started job behind; Open would drop it anyway.
		l.w.do(context.Background(), func(ctx context.Context, t *txn) error {
			_, err := t.conn.ExecContext(ctx, `DELETE FROM job`)
			return err
		})
		return err
	}
	k := newKeyer(secret)
	l.key = &k
	return nil
}

// Reset drops the job and everything recorded under it (results, pending
// handles, progress), for --restart. Start may be called again afterwards.
func (l *Ledger) Reset(ctx context.Context) error {
	if l.readOnly {
		return errReadOnly
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.j.rot.Lock()
	defer l.j.rot.Unlock()
	l.j.pause()
	defer l.j.resume()
	jm := newJournalMeta(l.j.meta.Gen + 1)
	err := l.w.doSync(ctx, func(ctx context.Context, t *txn) error {
		for _, q := range []string{`DELETE FROM job`, `DELETE FROM progress`, `DELETE FROM result`, `DELETE FROM pending`} {
			if _, err := t.conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("checkpoint: reset: %w", err)
			}
		}
		*t.ks = keySet{}
		if _, err := t.st.putMeta.ExecContext(ctx, "rlog", jm.encode()); err != nil {
			return fmt.Errorf("checkpoint: reset: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.j.meta = jm
	if err := l.j.create(jm.Gen); err != nil {
		l.j.fail(err)
		return err
	}
	if err := removeMarker(l.path(markerName), l.dir); err != nil {
		return err
	}
	l.key = nil
	return nil
}

// keyer returns the key derivation of the started job, or ErrNoJob.
func (l *Ledger) keyer() (*keyer, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.key == nil {
		return nil, ErrNoJob
	}
	return l.key, nil
}
