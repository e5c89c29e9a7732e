package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultMaxBatch is the most operations the writer puts in one transaction.
const DefaultMaxBatch = 1024

// errClosed is returned by writes after Close.
var errClosed = errors.New("checkpoint: ledger is closed")

// txn is the writer's view of one open transaction.
type txn struct {
	conn *sql.Conn
	st   *stmts
	ks   *keySet // the result key set, updated in place; restored on rollback
}

// op is one queued write. apply runs inside the writer's transaction.
type op struct {
	apply func(ctx context.Context, t *txn) error
	sync  bool       // also checkpoint the WAL (fsyncs it and the database)
	done  chan error // buffered 1
}

// writer serializes every write of a ledger through one connection and
// group-commits whatever is queued.
type writer struct {
	conn     *sql.Conn
	st       *stmts
	ks       keySet
	maxBatch int

	reqs chan *op
	quit chan struct{}

	commits atomic.Int64 // transactions committed, for tests and measurements
	wg      sync.WaitGroup
	once    sync.Once
}

func newWriter(conn *sql.Conn, st *stmts, ks keySet, maxBatch int) *writer {
	w := &writer{conn: conn, st: st, ks: ks, maxBatch: maxBatch, reqs: make(chan *op), quit: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

// do queues fn and waits until its transaction committed (or failed).
func (w *writer) do(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	return w.send(ctx, &op{apply: fn, done: make(chan error, 1)})
}

// doSync is do, then a WAL checkpoint: the write survives a power loss too.
// Start and Reset use it because job.json, which is fsynced, must never be
// ahead of the database.
func (w *writer) doSync(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	return w.send(ctx, &op{apply: fn, sync: true, done: make(chan error, 1)})
}

func (w *writer) send(ctx context.Context, o *op) error {
	select {
	case w.reqs <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return errClosed
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the writer after the batch in progress; queued callers that
// were not taken get errClosed.
func (w *writer) close() {
	w.once.Do(func() { close(w.quit) })
	w.wg.Wait()
}

func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]*op, 0, w.maxBatch)
	for {
		batch = batch[:0]
		select {
		case o := <-w.reqs:
			batch = append(batch, o)
		case <-w.quit:
			return
		}
	drain:
		for len(batch) < w.maxBatch {
			select {
			case o := <-w.reqs:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		w.commit(batch)
	}
}

// commit writes batch in one transaction. If it fails, each op is retried
// alone so one bad operation cannot fail (or tear) the others.
func (w *writer) commit(batch []*op) {
	errs := make([]error, len(batch))
	if err := w.runTx(batch); err != nil && len(batch) > 1 {
		for i, o := range batch {
			errs[i] = w.runTx([]*op{o})
		}
	} else {
		for i := range errs {
			errs[i] = err
		}
	}
	var cpErr error
	if slices.ContainsFunc(batch, func(o *op) bool { return o.sync }) {
		var busy, logFrames, done int
		err := w.conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(FULL)").Scan(&busy, &logFrames, &done)
		if err == nil && busy != 0 {
			err = errors.New("database busy")
		}
		if err != nil {
			cpErr = sqlErr(fmt.Errorf("checkpoint: checkpoint WAL: %w", err))
		}
	}
	for i, o := range batch {
		if errs[i] == nil && o.sync {
			errs[i] = cpErr
		}
		o.done <- errs[i]
	}
}

// runTx applies ops in one transaction, independent of callers' contexts:
// a caller giving up must not abort a transaction shared with others.
func (w *writer) runTx(ops []*op) (err error) {
	ctx := context.Background()
	saved := w.ks
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return sqlErr(fmt.Errorf("checkpoint: begin: %w", err))
	}
	defer func() {
		if err != nil {
			w.ks = saved
			w.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	t := &txn{conn: w.conn, st: w.st, ks: &w.ks}
	for _, o := range ops {
		if err := o.apply(ctx, t); err != nil {
			return sqlErr(err)
		}
	}
	if w.ks != saved {
		if err := w.st.putKeySet(ctx, w.ks); err != nil {
			return sqlErr(fmt.Errorf("checkpoint: store key set: %w", err))
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return sqlErr(fmt.Errorf("checkpoint: commit: %w", err))
	}
	w.commits.Add(1)
	return nil
}
