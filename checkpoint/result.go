package checkpoint

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/contactbatch/batch/pipeline"
)

// The run-state types the ledger stores are the runner's own (pipeline
// imports nothing from checkpoint; checkpoint stands above it):
// pipeline.StoredResult, pipeline.Pending, pipeline.PendingID and
// pipeline.Progress. *Ledger is a pipeline.Ledger.
var _ pipeline.Ledger = (*Ledger)(nil)

// pendingDoc is a pipeline.Pending as stored: a nil Data stays nil.
// NextPoll and Polls are kept for the stored format (NextPoll is the
// creation time, Polls 0); nothing reads them.
type pendingDoc struct {
	Kind      pipeline.Kind
	Handle    string
	Keys      []string        `json:",omitempty"`
	Data      json.RawMessage `json:",omitempty"`
	CreatedAt time.Time
	NextPoll  time.Time
	Polls     int
}

// Result returns the answer stored for (kind, key) in this job, or nil, nil
// when there is none. A record failing its checksum is ErrCorrupt.
func (l *Ledger) Result(ctx context.Context, kind pipeline.Kind, key string) (*pipeline.StoredResult, error) {
	kr, err := l.keyer()
	if err != nil {
		return nil, err
	}
	k := kr.key(string(kind), key)
	if rec, ok, err := l.j.get(prefixOf(k)); err != nil {
		return nil, err
	} else if ok && bytes.Equal(rec.k, k) {
		if rec.kind != string(kind) {
			return nil, fmt.Errorf("%w: a %s result in %s has another kind", ErrCorrupt, kind, l.j.path)
		}
		if rec.status == statusPurged {
			return nil, nil
		}
		r := pipeline.StoredResult{Kind: kind, Key: key, Status: rec.status, Verdict: rec.verdict, FetchedAt: time.Unix(0, rec.fetched).UTC()}
		if rec.data != nil {
			r.Data = json.RawMessage(rec.data)
		}
		return &r, nil
	}
	var (
		r       = pipeline.StoredResult{Key: key}
		data    []byte
		fetched int64
		sum     int64
	)
	err = l.getRes.QueryRowContext(ctx, k).Scan(&r.Kind, &r.Status, &r.Verdict, &data, &fetched, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, l.corruptOr("read result from", err)
	}
	if resultSum(k, string(r.Kind), r.Status, r.Verdict, data, fetched) != sum || r.Kind != kind {
		return nil, fmt.Errorf("%w: a %s result in %s fails its checksum", ErrCorrupt, kind, l.path(dbName))
	}
	if r.Status == statusPurged {
		return nil, nil
	}
	if data != nil {
		r.Data = json.RawMessage(data)
	}
	r.FetchedAt = time.Unix(0, fetched).UTC()
	return &r, nil
}

// statusPurged is the status of a tombstone: the answer stored for its
// key was removed by Purge. Result reports no answer for it.
const statusPurged = "purged"

// LookupKey names one stored answer: its kind and its lookup key (as
// pipeline.StoredResult.Key).
type LookupKey struct {
	Kind pipeline.Kind
	Key  string
}

// Purge removes the answers stored for keys (personal-data deletion) and
// returns how many there were. Each is replaced by a tombstone that holds
// no data: Result reports the key as never answered, so a later run of the
// job pays for it again rather than reuse it; rows already written stay
// done. The results log, which still holds the old records, is then moved
// into the database and replaced, with the database overwriting what it
// frees (secure_delete). Keys with no answer are skipped. A pending
// person lookup of one of the keys loses its poll handle; a pending bulk
// verify job, whose handle names many keys, keeps it.
func (l *Ledger) Purge(ctx context.Context, keys []LookupKey) (int64, error) {
	var n int64
	// A pending async lookup of one of the keys names it in clear: drop
	// its handle (a later run asks again). Bulk handles, which name many
	// keys, are kept.
	ps, err := l.Pending(ctx)
	if err != nil {
		return 0, err
	}
	for _, p := range ps {
		if len(p.Keys) == 1 && slices.Contains(keys, LookupKey{Kind: p.Kind, Key: p.Keys[0]}) {
			if err := l.DeletePending(ctx, pipeline.PendingID{Kind: p.Kind, Handle: p.Handle}); err != nil {
				return 0, err
			}
		}
	}
	for _, k := range keys {
		r, err := l.Result(ctx, k.Kind, k.Key)
		if err != nil {
			return n, err
		}
		if r == nil {
			continue
		}
		if err := l.PutResult(ctx, pipeline.StoredResult{Kind: k.Kind, Key: k.Key, Status: statusPurged, Verdict: statusPurged}); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := l.w.do(ctx, func(ctx context.Context, t *txn) error {
		_, err := t.conn.ExecContext(ctx, `PRAGMA secure_delete = ON`)
		return err
	}); err != nil {
		return n, l.dbErr("purge in", err)
	}
	l.j.rot.Lock()
	defer l.j.rot.Unlock()
	if err := l.rotate(); err != nil {
		return n, err
	}
	return n, nil
}

// PutResult stores r (replacing an earlier answer for the same kind and key)
// in the results log, then deletes the given pending handles. It returns
// once r is written, batched with concurrent writes; a crash between the
// two steps leaves handles whose keys are answered, which a resume drops.
// If ctx ends first it returns ctx.Err() and r may or may not be stored.
func (l *Ledger) PutResult(ctx context.Context, r pipeline.StoredResult, donePending ...pipeline.PendingID) error {
	if l.readOnly {
		return errReadOnly
	}
	if r.Kind == "" || r.Key == "" {
		return errors.New("checkpoint: result needs a kind and a key")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Held to the end, so that Reset (and Start) wait for the answers of
	// the job being stored and no answer of a reset job reaches the next
	// job's log.
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.key == nil {
		return ErrNoJob
	}
	if r.FetchedAt.IsZero() {
		r.FetchedAt = time.Now()
	}
	k := l.key.key(string(r.Kind), r.Key)
	if err := l.j.append(record{k: k, kind: string(r.Kind), status: r.Status, verdict: r.Verdict, data: r.Data, fetched: r.FetchedAt.UnixNano()}); err != nil {
		return err
	}
	if len(donePending) > 0 {
		done := slices.Clone(donePending)
		if err := l.w.do(ctx, func(ctx context.Context, t *txn) error { return deletePending(ctx, t, done) }); err != nil {
			return err
		}
	}
	if l.j.len() >= l.opts.rotateAt && l.j.rot.TryLock() {
		defer l.j.rot.Unlock()
		return l.rotate()
	}
	return nil
}

// defaultRotateChunk is how many records one rotation transaction moves.
const defaultRotateChunk = 4096

// rotate moves the results log into the result table and starts a new,
// empty log. Appends wait meanwhile. The caller holds l.j.rot.
//
// Each transaction moves a chunk of records in file order (a later record
// for a key replaces an earlier one) and records how far it got, so a crash
// resumes the move; the last one switches the meta row to the next
// generation (with a WAL checkpoint) before the new file replaces the old.
func (l *Ledger) rotate() error {
	j := l.j
	j.pause()
	defer j.resume()
	ctx := context.Background()
	var (
		chunk   []record
		applied = j.meta.Applied
		err     error
		chunks  int
	)
	flush := func(end int64) {
		if err != nil || len(chunk) == 0 {
			return
		}
		if hook := l.opts.afterChunk; hook != nil && chunks > 0 {
			if err = hook(chunks); err != nil {
				return
			}
		}
		chunks++
		recs, jm := chunk, journalMeta{Gen: j.meta.Gen, Applied: end, Committed: j.meta.Committed}
		chunk = nil
		// In key order the index's pages are touched once each; stable, so
		// a later answer for a key still replaces an earlier one.
		slices.SortStableFunc(recs, func(a, b record) int { return bytes.Compare(a.k, b.k) })
		err = l.w.do(ctx, func(ctx context.Context, t *txn) error {
			for _, r := range recs {
				if err := storeResult(ctx, t, r); err != nil {
					return err
				}
			}
			_, err := t.st.putMeta.ExecContext(ctx, "rlog", jm.encode())
			return err
		})
		if err == nil {
			j.meta = jm
		}
	}
	_, end, serr := j.scan(applied, func(_, next int64, r record) {
		if err != nil {
			return
		}
		r.k, r.data = slices.Clone(r.k), cloneNil(r.data)
		chunk = append(chunk, r)
		if len(chunk) == l.opts.rotateChunk {
			flush(next)
		}
	})
	if serr != nil {
		return serr
	}
	flush(end)
	if err != nil {
		return err
	}
	if end != j.endOffset() {
		return fmt.Errorf("%w: %s changed while its results were moved", ErrCorrupt, j.path)
	}
	next := newJournalMeta(j.meta.Gen + 1)
	if err := l.w.do(ctx, func(ctx context.Context, t *txn) error {
		_, err := t.st.putMeta.ExecContext(ctx, "rlog", next.encode())
		return err
	}); err != nil {
		return err // not committed: the log goes on as it was
	}
	j.meta = next
	// Committed: from here the old file must not take another record. The
	// switch is made durable (a WAL checkpoint) before the new file
	// replaces the old, so that a power loss cannot pair the old
	// generation's meta with the new file. If either step fails the log
	// stops taking records; reopening finds the old file fully moved and
	// starts the new generation.
	if err := l.w.doSync(ctx, func(context.Context, *txn) error { return nil }); err != nil {
		j.fail(err)
		return err
	}
	if err := j.create(next.Gen); err != nil {
		j.fail(err)
		return err
	}
	return nil
}

func cloneNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return slices.Clone(b)
}

// storeResult inserts or replaces one result in the result table.
func storeResult(ctx context.Context, t *txn, r record) error {
	sum := resultSum(r.k, r.kind, r.status, r.verdict, r.data, r.fetched)
	res, err := t.st.insResult.ExecContext(ctx, r.k, r.kind, r.status, r.verdict, r.data, r.fetched, sum)
	if err != nil {
		return fmt.Errorf("checkpoint: store %s result: %w", r.kind, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		t.ks.add(r.k)
	} else if _, err := t.st.updResult.ExecContext(ctx, r.k, r.kind, r.status, r.verdict, r.data, r.fetched, sum); err != nil {
		return fmt.Errorf("checkpoint: store %s result: %w", r.kind, err)
	}
	return nil
}

func deletePending(ctx context.Context, t *txn, ids []pipeline.PendingID) error {
	for _, id := range ids {
		if _, err := t.st.delPending.ExecContext(ctx, string(id.Kind), id.Handle); err != nil {
			return fmt.Errorf("checkpoint: delete %s pending handle: %w", id.Kind, err)
		}
	}
	return nil
}

// PutPending stores p, replacing the handle with the same (Kind, Handle). It
// is durable when it returns nil.
func (l *Ledger) PutPending(ctx context.Context, p pipeline.Pending) error {
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
	doc, err := json.Marshal(pendingDoc{Kind: p.Kind, Handle: p.Handle, Keys: p.Keys, Data: p.Data,
		CreatedAt: p.CreatedAt, NextPoll: p.CreatedAt})
	if err != nil {
		return fmt.Errorf("checkpoint: encode pending handle: %w", err)
	}
	sum := docSum(string(p.Kind), p.Handle, string(doc))
	return l.w.do(ctx, func(ctx context.Context, t *txn) error {
		if _, err := t.st.putPending.ExecContext(ctx, string(p.Kind), p.Handle, doc, sum); err != nil {
			return fmt.Errorf("checkpoint: store %s pending handle: %w", p.Kind, err)
		}
		return nil
	})
}

// Pending returns every stored poll handle, oldest first.
func (l *Ledger) Pending(ctx context.Context) ([]pipeline.Pending, error) {
	rows, err := l.rdb.QueryContext(ctx, `SELECT kind, handle, doc, sum FROM pending`)
	if err != nil {
		return nil, l.corruptOr("read pending handles from", err)
	}
	defer rows.Close()
	var out []pipeline.Pending
	for rows.Next() {
		var kind, handle string
		var doc []byte
		var sum int64
		if err := rows.Scan(&kind, &handle, &doc, &sum); err != nil {
			return nil, l.corruptOr("read pending handles from", err)
		}
		var p pendingDoc
		if docSum(kind, handle, string(doc)) != sum {
			return nil, fmt.Errorf("%w: a %s pending handle in %s fails its checksum", ErrCorrupt, kind, l.path(dbName))
		}
		if err := json.Unmarshal(doc, &p); err != nil || string(p.Kind) != kind || p.Handle != handle {
			return nil, fmt.Errorf("%w: a %s pending handle in %s is unreadable", ErrCorrupt, kind, l.path(dbName))
		}
		out = append(out, pipeline.Pending{Kind: p.Kind, Handle: p.Handle, Keys: p.Keys, Data: p.Data, CreatedAt: p.CreatedAt})
	}
	if err := rows.Err(); err != nil {
		return nil, l.corruptOr("read pending handles from", err)
	}
	slices.SortStableFunc(out, func(a, b pipeline.Pending) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeletePending deletes the given handles (absent ones are ignored). It is
// durable when it returns nil.
func (l *Ledger) DeletePending(ctx context.Context, ids ...pipeline.PendingID) error {
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
	// No rotation moves results between the table and the log meanwhile.
	l.j.rot.Lock()
	defer l.j.rot.Unlock()
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
	if err := l.countJournal(ctx, c.Results, len(c.Results) == 0); err != nil {
		return c, err
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

// countJournal adds the results log's latest record per key to counts: a
// key also in the result table counts once, with the log's (newer) status.
// With the table empty (no rotation yet) there is nothing to look up.
func (l *Ledger) countJournal(ctx context.Context, counts map[string]map[string]int64, tableEmpty bool) error {
	add := func(kind, status string, n int64) {
		if counts[kind] == nil {
			counts[kind] = map[string]int64{}
		}
		counts[kind][status] += n
		if counts[kind][status] == 0 {
			delete(counts[kind], status)
		}
	}
	for _, off := range l.j.offsets() {
		rec, err := l.j.read(off)
		if err != nil {
			return err
		}
		if tableEmpty {
			add(rec.kind, rec.status, 1)
			continue
		}
		var kind, status string
		err = l.rdb.QueryRowContext(ctx, `SELECT kind, status FROM result WHERE k = ?`, rec.k).Scan(&kind, &status)
		switch {
		case err == nil:
			add(kind, status, -1)
		case !errors.Is(err, sql.ErrNoRows):
			return l.dbErr("count results in", err)
		}
		add(rec.kind, rec.status, 1)
	}
	return nil
}
