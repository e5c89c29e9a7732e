package checkpoint

import (
	"context"
	"time"

	"github.com/contactbatch/batch/pipeline"
)

// ForRun presents the ledger as the pipeline.Ledger a run writes through.
func (l *Ledger) ForRun() pipeline.Ledger { return runLedger{l} }

// ForRun presents the cache as a pipeline.Cache whose answers are those of
// scope (see CacheScope).
func (c *Cache) ForRun(scope CacheScope) pipeline.Cache { return runCache{c, scope} }

type runLedger struct{ l *Ledger }

func (a runLedger) Result(ctx context.Context, kind pipeline.Kind, key string) (*pipeline.StoredResult, error) {
	r, err := a.l.Result(ctx, string(kind), key)
	if err != nil || r == nil {
		return nil, err
	}
	return stored(r), nil
}

func (a runLedger) PutResult(ctx context.Context, r pipeline.StoredResult, done ...pipeline.PendingID) error {
	return a.l.PutResult(ctx, result(r), pendingIDs(done)...)
}

func (a runLedger) PutPending(ctx context.Context, p pipeline.Pending) error {
	return a.l.PutPending(ctx, Pending{Kind: string(p.Kind), Handle: p.Handle, Keys: p.Keys, Data: p.Data,
		CreatedAt: p.CreatedAt, NextPoll: p.CreatedAt})
}

func (a runLedger) DeletePending(ctx context.Context, ids ...pipeline.PendingID) error {
	return a.l.DeletePending(ctx, pendingIDs(ids)...)
}

func (a runLedger) Pending(ctx context.Context) ([]pipeline.Pending, error) {
	ps, err := a.l.Pending(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pipeline.Pending, len(ps))
	for i, p := range ps {
		out[i] = pipeline.Pending{Kind: pipeline.Kind(p.Kind), Handle: p.Handle, Keys: p.Keys, Data: p.Data, CreatedAt: p.CreatedAt}
	}
	return out, nil
}

func (a runLedger) Commit(ctx context.Context, p pipeline.Progress) error {
	return a.l.Commit(ctx, Progress{
		Seq: p.Seq, Cursor: p.Cursor, SinkPos: string(p.SinkPos), RejectPos: string(p.RejectPos),
		Counters: p.Counters, Finished: p.Finished, UpdatedAt: time.Now().UTC(),
	})
}

// resultStore is what runCache adapts: Cache and PGCache.
type resultStore interface {
	Get(ctx context.Context, kind, key string) (*Result, error)
	Put(ctx context.Context, r Result) error
}

type runCache struct {
	c     resultStore
	scope CacheScope
}

// ForRun presents the shared cache as a pipeline.Cache whose answers are
// those of scope (see CacheScope).
func (c *PGCache) ForRun(scope CacheScope) pipeline.Cache { return runCache{c, scope} }

func (a runCache) Get(ctx context.Context, kind pipeline.Kind, key string) (*pipeline.StoredResult, error) {
	r, err := a.c.Get(ctx, string(kind), a.scope.key(string(kind), key))
	if err != nil || r == nil {
		return nil, err
	}
	r.Key = key
	return stored(r), nil
}

func (a runCache) Put(ctx context.Context, r pipeline.StoredResult) error {
	cr := result(r)
	cr.Key = a.scope.key(cr.Kind, cr.Key)
	return a.c.Put(ctx, cr)
}

func pendingIDs(ids []pipeline.PendingID) []PendingID {
	out := make([]PendingID, len(ids))
	for i, d := range ids {
		out[i] = PendingID{Kind: string(d.Kind), Handle: d.Handle}
	}
	return out
}

func stored(r *Result) *pipeline.StoredResult {
	return &pipeline.StoredResult{Kind: pipeline.Kind(r.Kind), Key: r.Key, Status: r.Status, Verdict: r.Verdict, Data: r.Data}
}

func result(r pipeline.StoredResult) Result {
	return Result{Kind: string(r.Kind), Key: r.Key, Status: r.Status, Verdict: r.Verdict, Data: r.Data, FetchedAt: time.Now().UTC()}
}
