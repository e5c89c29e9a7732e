// Package lookup is the lookup engine of a run: it answers each unique
// (kind, key) once per run, from the ledger, the cross-run cache or one paid
// call, and hands the answer to every row waiting for that key. It holds
// the in-run dedupe (resolvers), bulk verify jobs, the poll scheduler for
// async answers and the Bloom filter that lets a fresh job skip ledger
// reads.
//
// The engine knows nothing of rows, columns or sinks: it takes Requests
// and completes Waiters.
package lookup

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline/counter"
)

// Config is what the engine needs. Every field but Cache is required; the
// durations and sizes must be positive (the runner fills defaults).
type Config struct {
	Ledger Ledger
	Cache  Cache // optional: answers from earlier runs
	// SharedCache says Cache is shared by the processes of a job (see
	// Cache): an answer is in it before its row is done, so a Put that
	// fails stops the run resumably with the key unanswered, and an
	// answer the ledger holds from an earlier run is put into it again
	// before it is used (that run may have stopped between the two
	// writes).
	SharedCache bool
	// ClaimPoll and ClaimPollMax are the first and the longest wait before
	// a key another process has claimed is looked up in the shared cache
	// again (defaults DefaultClaimPoll, DefaultClaimPollMax).
	ClaimPoll, ClaimPollMax time.Duration
	API                     API // required when any kind is enabled
	// Budget limits paid calls and carries the run's stop switch.
	Budget *Budget
	// Count adds n to the run counter name.
	Count func(name counter.Name, n int64)
	// Bill counts n calls to ep that the service billed (CONTRACT §6.5,
	// as the customeros Billed methods decide).
	Bill   func(ep customeros.Endpoint, n int64)
	Logger *slog.Logger

	// Kinds are the enabled lookup kinds.
	Kinds []Kind
	// BulkVerify sends verify lookups as bulk jobs of up to BulkSize keys,
	// uploaded at the latest BulkLinger after the first key of a batch.
	BulkVerify bool
	BulkSize   int
	BulkLinger time.Duration

	Workers       int // per kind, and for polls
	IncludeMobile bool
	// Refresh ignores cached answers (they are still written).
	Refresh bool
	// Fresh says the ledger holds no result yet (a new job), so a key this
	// run has not stored need not be looked up in it.
	Fresh bool

	AsyncTimeout time.Duration // how long rows wait for an async answer
	PollInitial  time.Duration
	PollMax      time.Duration
}

// Defaults of the wait for a key another process has claimed: looked at
// again after 100 ms, then half as long again each time, up to 2 s.
const (
	DefaultClaimPoll    = 100 * time.Millisecond
	DefaultClaimPollMax = 2 * time.Second
)

// Request is one lookup a row needs.
type Request struct {
	Kind Kind
	Key  Key
	// For is the row (its Seq) the lookup is made for.
	For int64
	// FirstName and LastName are query hints for a person lookup.
	FirstName, LastName string
}

// A Waiter receives the outcome of one requested lookup: Done is called
// exactly once per Request it was passed with, from any goroutine, unless
// the run stops first; ctx is the engine's. a is shared between waiters
// and must not be modified.
type Waiter interface {
	Done(ctx context.Context, a *Answer, err error)
}

// Engine answers lookups. Create it with New, call Restore, then Run; call
// Request from any number of goroutines and InputDone once no Request
// will follow.
type Engine struct {
	cfg Config
	log *slog.Logger

	// waited counts the keys in flight that rows wait for. Once the input
	// is done and it drops to zero, drained is closed and the engine's
	// goroutines return.
	waited    atomic.Int64
	inputDone atomic.Bool
	drainOnce sync.Once
	drained   chan struct{}

	stored *bloom // keys stored this run, when cfg.Fresh
	// started is when the engine was made: a ledger answer fetched before
	// it comes from an earlier run (see Config.SharedCache).
	started     time.Time
	republish   sync.Map // keys put into the shared cache again this run (bounded by maxFailed)
	republished atomic.Int64
	resolvers   map[Kind]*resolver
	polls       *scheduler
	pollJobs    chan *pollItem
	bulk        *bulker
}

// New returns an engine for cfg.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClaimPoll <= 0 {
		cfg.ClaimPoll = DefaultClaimPoll
	}
	if cfg.ClaimPollMax <= 0 {
		cfg.ClaimPollMax = DefaultClaimPollMax
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, polls: newScheduler(), pollJobs: make(chan *pollItem),
		resolvers: map[Kind]*resolver{}, drained: make(chan struct{}), started: time.Now()}
	if cfg.Fresh {
		e.stored = newBloom()
	}
	for _, k := range Kinds() {
		e.resolvers[k] = newResolver(e, k)
	}
	for _, k := range cfg.Kinds {
		e.resolvers[k].enabled = true
	}
	if v := e.resolvers[KindVerify]; v.enabled && cfg.BulkVerify {
		e.bulk = newBulker(v)
	}
	return e
}

// Run works on lookups until every requested key is answered after
// InputDone, or, once the run stops, until the work in hand is done (keys
// left unanswered stay so; durable poll handles wait for the next run), or
// until ctx ends. Its error is a failure that must end the run (the ledger
// failing); a stop is not an error.
func (e *Engine) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, rv := range e.resolvers {
		rv.start(ctx, g)
	}
	if e.bulk != nil {
		g.Go(func() error { return e.bulk.run(ctx) })
	}
	g.Go(func() error { return e.polls.run(ctx, e) })
	for range e.cfg.Workers {
		g.Go(func() error { return e.pollWork(ctx) })
	}
	return g.Wait()
}

// ID is req's key as the engine dedupes it and the ledger stores it.
func (req Request) ID() string { return req.Key.ID(req.Kind) }

// Request asks for req's answer: w.Done is called with it once it is known.
// Rows sharing a key share one lookup. It blocks while the kind's workers
// are all busy; it returns early when the run stops or ctx ends.
func (e *Engine) Request(ctx context.Context, req Request, w Waiter) {
	e.resolvers[req.Kind].request(ctx, req, w)
}

// InputDone says no Request will follow: bulk jobs upload what they hold,
// and Run returns once the keys rows wait for are answered.
func (e *Engine) InputDone() {
	e.inputDone.Store(true)
	if e.bulk != nil {
		e.bulk.poke()
	}
	e.checkDrained()
}

// waitFor counts one more key in flight that rows wait for.
func (e *Engine) waitFor() { e.waited.Add(1) }

// answered counts one key rows waited for as answered.
func (e *Engine) answered() {
	e.waited.Add(-1)
	e.checkDrained()
}

// checkDrained closes drained once the input is done and no row waits for
// a key. Both sides of the race (the last answer, InputDone) check after
// their own write, so one of them sees both.
func (e *Engine) checkDrained() {
	if e.inputDone.Load() && e.waited.Load() == 0 {
		e.drainOnce.Do(func() { close(e.drained) })
	}
}

// Parked reports the number of lookups waiting for a poll or a retry.
func (e *Engine) Parked() int { return e.polls.len() }

// Restore re-parks the poll handles a previous run left in the ledger, so
// they are polled instead of paid for again.
func (e *Engine) Restore(ctx context.Context) error {
	ps, err := e.cfg.Ledger.Pending(ctx)
	if err != nil {
		return fmt.Errorf("read pending polls: %w", err)
	}
	now := time.Now()
	for _, p := range ps {
		var pk parked
		if err := json.Unmarshal(p.Data, &pk); err != nil || len(pk.For) != len(p.Keys) {
			return fmt.Errorf("read pending polls: handle %s: bad record", p.Handle)
		}
		it := &pollItem{kind: p.Kind, handle: p.Handle, partial: pk.Partial, created: p.CreatedAt,
			interval: e.cfg.PollInitial, due: now}
		switch {
		case p.Kind == KindPerson && e.resolvers[KindPerson].enabled && len(p.Keys) == 1:
			// A crash after the answer was stored but before its handle
			// was deleted leaves an answered handle: drop it.
			if s, err := e.cfg.Ledger.Result(ctx, KindPerson, p.Keys[0]); err != nil {
				return fmt.Errorf("read pending polls: %w", err)
			} else if s != nil && s.Status != StatusPending {
				if err := e.cfg.Ledger.DeletePending(ctx, PendingID{Kind: p.Kind, Handle: p.Handle}); err != nil {
					return fmt.Errorf("read pending polls: %w", err)
				}
				continue
			}
			it.key, it.fors = p.Keys[0], pk.For
			e.resolvers[KindPerson].adopt(it.key)
		case p.Kind == KindVerify && e.bulk != nil:
			// Keys already answered are read from the ledger, not waited for.
			for i, k := range p.Keys {
				if s, err := e.cfg.Ledger.Result(ctx, KindVerify, k); err != nil {
					return fmt.Errorf("read pending polls: %w", err)
				} else if s == nil || s.Status == StatusPending {
					it.keys, it.fors = append(it.keys, k), append(it.fors, pk.For[i])
					e.resolvers[KindVerify].adopt(k)
				}
			}
		default:
			continue
		}
		e.cfg.Count(counter.AsyncRestored, 1)
		e.polls.add(it)
	}
	return nil
}

// pollWork runs due polls. Poll workers are separate from the lookup
// workers so that a growing number of parked lookups never slows new ones.
func (e *Engine) pollWork(ctx context.Context) error {
	for {
		var it *pollItem
		select {
		case it = <-e.pollJobs:
		case <-e.drained:
			return nil
		case <-e.cfg.Budget.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
		if it.retry {
			// A throttled lookup whose Retry-After passed: back in line.
			if !e.resolvers[it.kind].requeue(ctx, job{req: it.req, throttles: it.throttles}) {
				return nil
			}
			continue
		}
		var err error
		switch {
		case it.claim:
			err = e.resolvers[it.kind].recheck(ctx, it)
		case it.kind == KindVerify:
			err = e.bulk.poll(ctx, it)
		default:
			err = e.resolvers[KindPerson].pollPerson(ctx, it)
		}
		if err != nil {
			return err
		}
	}
}
