package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/contactbatch/batch/pipeline"
)

// Progress returns the last committed progress: the zero Progress for a job
// that has not committed yet, ErrNoJob when no job is started.
func (l *Ledger) Progress(ctx context.Context) (pipeline.Progress, error) {
	if _, err := l.keyer(); err != nil {
		return pipeline.Progress{}, err
	}
	c, err := l.rdb.Conn(ctx)
	if err != nil {
		return pipeline.Progress{}, l.dbErr("read progress from", err)
	}
	defer c.Close()
	p, err := readProgress(ctx, c)
	if err != nil || p == nil {
		return pipeline.Progress{}, err
	}
	return *p, nil
}

// readProgress returns nil, nil when nothing was committed.
func readProgress(ctx context.Context, c *sql.Conn) (*pipeline.Progress, error) {
	var doc []byte
	var sum int64
	err := c.QueryRowContext(ctx, `SELECT doc, sum FROM progress WHERE id = 1`).Scan(&doc, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, sqlErr(fmt.Errorf("checkpoint: read progress: %w", err))
	}
	if docSum(string(doc)) != sum {
		return nil, fmt.Errorf("%w: progress record fails its checksum", ErrCorrupt)
	}
	var p pipeline.Progress
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("%w: progress record: %v", ErrCorrupt, err)
	}
	return &p, nil
}

// Commit records p (its UpdatedAt set to now when zero). It is durable
// (against a process crash) when Commit returns nil.
func (l *Ledger) Commit(ctx context.Context, p pipeline.Progress) error {
	if l.readOnly {
		return errReadOnly
	}
	if _, err := l.keyer(); err != nil {
		return err
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = time.Now()
	}
	p.UpdatedAt = p.UpdatedAt.UTC()
	p.Counters = maps.Clone(p.Counters)
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("checkpoint: encode progress: %w", err)
	}
	sum := docSum(string(doc))
	// The results log is fsynced up to the length this commit records, so
	// the database is never ahead of it, even after a power loss.
	l.j.rot.Lock()
	defer l.j.rot.Unlock()
	end, err := l.j.sync()
	if err != nil {
		return err
	}
	jm := l.j.meta
	jm.Committed = end
	err = l.w.do(ctx, func(ctx context.Context, t *txn) error {
		if _, err := t.st.putProgress.ExecContext(ctx, doc, sum); err != nil {
			return fmt.Errorf("checkpoint: store progress: %w", err)
		}
		if _, err := t.st.putMeta.ExecContext(ctx, "rlog", jm.encode()); err != nil {
			return fmt.Errorf("checkpoint: store progress: %w", err)
		}
		return nil
	})
	if err == nil {
		l.j.meta = jm
	}
	return err
}
