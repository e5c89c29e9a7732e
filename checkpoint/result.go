package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Result is one API answer, keyed by Kind ("verify", "person",
// "organization") and Key (the normalized email, LinkedIn URL or domain).
type Result struct {
	Kind, Key, Status, Verdict string
	Data                       json.RawMessage
	FetchedAt                  time.Time
}

// PendingID names a durable poll handle.
type PendingID struct{ Kind, Handle string }

// Pending is a durable poll handle (a person result URL or a bulk verify job
// id) and the keys waiting for it.
type Pending struct {
	Kind, Handle string
	Keys         []string
	Data         json.RawMessage
	CreatedAt    time.Time
	NextPoll     time.Time
	Polls        int
}

// pendingDoc is Pending as stored: a nil Data stays nil.
type pendingDoc struct {
	Kind, Handle string
	Keys         []string        `json:",omitempty"`
	Data         json.RawMessage `json:",omitempty"`
	CreatedAt    time.Time
	NextPoll     time.Time
	Polls        int
}

// Result returns the answer stored for (kind, key) in this job, or nil, nil
// when there is none. A row failing its checksum is ErrCorrupt.
func (l *Ledger) Result(ctx context.Context, kind, key string) (*Result, error) {
	kr, err := l.keyer()
	if err != nil {
		return nil, err
	}
	k := kr.key(kind, key)
	var (
		r       = Result{Key: key}
		data    []byte
		fetched int64
		sum     int64
	)
	err = l.getRes.QueryRowContext(ctx, k).Scan(&r.Kind, &r.Status, &r.Verdict, &data, &fetched, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, l.dbErr("read result from", err)
	}
	if resultSum(k, r.Kind, r.Status, r.Verdict, data, fetched) != sum || r.Kind != kind {
		return nil, fmt.Errorf("%w: a %s result in %s fails its checksum", ErrCorrupt, kind, l.path(dbName))
	}
	if data != nil {
		r.Data = json.RawMessage(data)
	}
	r.FetchedAt = time.Unix(0, fetched).UTC()
	return &r, nil
}

// PutResult stores r (replacing an earlier answer for the same kind and key)
// and deletes the given pending handles in the same transaction. It returns
// once the transaction is committed, batched with concurrent writes. If ctx
// ends first it returns ctx.Err() and r may or may not be stored.
func (l *Ledger) PutResult(ctx context.Context, r Result, donePending ...PendingID) error {
	if l.readOnly {
		return errReadOnly
	}
	kr, err := l.keyer()
	if err != nil {
		return err
	}
	if r.Kind == "" || r.Key == "" {
		return errors.New("checkpoint: result needs a kind and a key")
	}
	if r.FetchedAt.IsZero() {
		r.FetchedAt = time.Now()
	}
	k := kr.key(r.Kind, r.Key)
	var data []byte
	if r.Data != nil {
		data = slices.Clone([]byte(r.Data))
	}
	fetched := r.FetchedAt.UnixNano()
	sum := resultSum(k, r.Kind, r.Status, r.Verdict, data, fetched)
	done := slices.Clone(donePending)
	return l.w.do(ctx, func(ctx context.Context, t *txn) error {
		res, err := t.st.insResult.ExecContext(ctx, k, r.Kind, r.Status, r.Verdict, data, fetched, sum)
		if err != nil {
			return fmt.Errorf("checkpoint: store %s result: %w", r.Kind, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			t.ks.add(k)
		} else if _, err := t.st.updResult.ExecContext(ctx, k, r.Kind, r.Status, r.Verdict, data, fetched, sum); err != nil {
			return fmt.Errorf("checkpoint: store %s result: %w", r.Kind, err)
		}
		return deletePending(ctx, t, done)
	})
}

func deletePending(ctx context.Context, t *txn, ids []PendingID) error {
	for _, id := range ids {
		if _, err := t.st.delPending.ExecContext(ctx, id.Kind, id.Handle); err != nil {
			return fmt.Errorf("checkpoint: delete %s pending handle: %w", id.Kind, err)
		}
	}
	return nil
}

// PutPending stores p, replacing the handle with the same (Kind, Handle). It
// is durable when it returns nil.
func (l *Ledger) PutPending(ctx context.Context, p Pending) error {
	if l.readOnly {
		return errReadOnly
	}
	if _, err := l.keyer(); err != nil {
		return err
	}
	if p.Kind == "" || p.Handle == "" {
		return errors.New("checkpoint: pending handle needs a kind and a handle")
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	doc, err := json.Marshal(pendingDoc(p))
	if err != nil {
		return fmt.Errorf("checkpoint: encode pending handle: %w", err)
	}
	sum := docSum(p.Kind, p.Handle, string(doc))
	return l.w.do(ctx, func(ctx context.Context, t *txn) error {
		if _, err := t.st.putPending.ExecContext(ctx, p.Kind, p.Handle, doc, sum); err != nil {
			return fmt.Errorf("checkpoint: store %s pending handle: %w", p.Kind, err)
		}
		return nil
	})
}

// Pending returns every stored poll handle, oldest first.
func (l *Ledger) Pending(ctx context.Context) ([]Pending, error) {
	rows, err := l.rdb.QueryContext(ctx, `SELECT kind, handle, doc, sum FROM pending`)
	if err != nil {
		return nil, l.dbErr("read pending handles from", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var kind, handle string
		var doc []byte
		var sum int64
		if err := rows.Scan(&kind, &handle, &doc, &sum); err != nil {
			return nil, l.dbErr("read pending handles from", err)
		}
		var p pendingDoc
		if docSum(kind, handle, string(doc)) != sum {
			return nil, fmt.Errorf("%w: a %s pending handle in %s fails its checksum", ErrCorrupt, kind, l.path(dbName))
		}
		if err := json.Unmarshal(doc, &p); err != nil || p.Kind != kind || p.Handle != handle {
			return nil, fmt.Errorf("%w: a %s pending handle in %s is unreadable", ErrCorrupt, kind, l.path(dbName))
		}
		out = append(out, Pending(p))
	}
	if err := rows.Err(); err != nil {
		return nil, l.dbErr("read pending handles from", err)
	}
	slices.SortStableFunc(out, func(a, b Pending) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeletePending deletes the given handles (absent ones are ignored). It is
// durable when it returns nil.
func (l *Ledger) DeletePending(ctx context.Context, ids ...PendingID) error {
	if l.readOnly {
		return errReadOnly
	}
	ids = slices.Clone(ids)
	return l.w.do(ctx, func(ctx context.Context, t *txn) error { return deletePending(ctx, t, ids) })
}

// Counts summarizes a ledger for `batch status`.
type Counts struct {
	// Results counts stored results by kind, then status.
	Results map[string]map[string]int64
	// Pending counts pending poll handles by kind.
	Pending map[string]int64
}

// Counts returns the ledger's result and pending-handle counts. It scans the
// results table.
func (l *Ledger) Counts(ctx context.Context) (Counts, error) {
	c := Counts{Results: map[string]map[string]int64{}, Pending: map[string]int64{}}
	rows, err := l.rdb.QueryContext(ctx, `SELECT kind, status, count(*) FROM result GROUP BY kind, status`)
	if err != nil {
		return c, l.dbErr("count results in", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, status string
		var n int64
		if err := rows.Scan(&kind, &status, &n); err != nil {
			return c, l.dbErr("count results in", err)
		}
		if c.Results[kind] == nil {
			c.Results[kind] = map[string]int64{}
		}
		c.Results[kind][status] = n
	}
	if err := rows.Err(); err != nil {
		return c, l.dbErr("count results in", err)
	}
	prow, err := l.rdb.QueryContext(ctx, `SELECT kind, count(*) FROM pending GROUP BY kind`)
	if err != nil {
		return c, l.dbErr("count pending handles in", err)
	}
	defer prow.Close()
	for prow.Next() {
		var kind string
		var n int64
		if err := prow.Scan(&kind, &n); err != nil {
			return c, l.dbErr("count pending handles in", err)
		}
		c.Pending[kind] = n
	}
	if err := prow.Err(); err != nil {
		return c, l.dbErr("count pending handles in", err)
	}
	return c, nil
}
