package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Progress is what the runner records at each commit: how far the output
// is durably written and where to resume.
type Progress struct {
	// Seq counts rows (accepted and rejected) durably written: the next Seq.
	Seq int64
	// Cursor is the source cursor after row Seq-1.
	Cursor string
	// SinkPos and RejectPos are the sinks' commit positions.
	SinkPos, RejectPos string
	// Counters are the runner's counts (ok, invalid, calls, …), opaque here.
	Counters map[string]int64
	// Finished is true once the whole input is written.
	Finished bool
	// UpdatedAt is when the progress was committed; Commit sets it if zero.
	UpdatedAt time.Time
}

// Progress returns the last committed progress: the zero Progress for a job
// that has not committed yet, ErrNoJob when no job is started.
func (l *Ledger) Progress(ctx context.Context) (Progress, error) {
	if _, err := l.keyer(); err != nil {
		return Progress{}, err
	}
	c, err := l.rdb.Conn(ctx)
	if err != nil {
		return Progress{}, l.dbErr("read progress from", err)
	}
	defer c.Close()
	p, err := readProgress(ctx, c)
	if err != nil || p == nil {
		return Progress{}, err
	}
	return *p, nil
}

// readProgress returns nil, nil when nothing was committed.
func readProgress(ctx context.Context, c *sql.Conn) (*Progress, error) {
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
	var p Progress
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("%w: progress record: %v", ErrCorrupt, err)
	}
	return &p, nil
}

// Commit records p. It is durable (against a process crash) when Commit
// returns nil.
func (l *Ledger) Commit(ctx context.Context, p Progress) error {
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
