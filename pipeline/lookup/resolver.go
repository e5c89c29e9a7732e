package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline/counter"
)

// resolver answers one kind of lookup with one call per unique key: rows
// that share a key while it is in flight wait on the same flight, later
// rows find the answer in the ledger.
type resolver struct {
	e       *Engine
	kind    Kind
	enabled bool

	mu      sync.Mutex
	flights map[string]*flight
	// failed remembers keys whose lookup failed for good this run, so rows
	// sharing the key get the same error without another call (bounded).
	failed map[string]error
	// settled remembers keys written pending this run (an async lookup
	// not finished within AsyncTimeout), so rows sharing the key get the
	// same pending answer without another call (bounded like failed).
	settled map[string]*Answer

	jobs chan job
	// queued counts jobs sent to jobs and not yet handled: once the input
	// is done and it is zero, every key has reached its lookup (the bulker
	// uploads what it holds).
	queued atomic.Int64
}

// flight is one key being resolved and the rows waiting for it.
type flight struct {
	waiters []Waiter
}

// job is work for a resolver's workers: a key to resolve; req gives the
// query hints.
type job struct {
	req       Request
	throttles int // times this key was answered 429
	// claimed says the shared cache was just asked and this process holds
	// the claim on the key: pay without asking again.
	claimed bool
}

func newResolver(e *Engine, k Kind) *resolver {
	return &resolver{e: e, kind: k, flights: map[string]*flight{}, failed: map[string]error{},
		settled: map[string]*Answer{}, jobs: make(chan job, e.cfg.Workers)}
}

// start launches the resolver's workers in g.
func (rv *resolver) start(ctx context.Context, g *errgroup.Group) {
	if !rv.enabled {
		return
	}
	for range rv.e.cfg.Workers {
		g.Go(func() error { return rv.work(ctx) })
	}
}

// request adds w as a waiter for req.ID() and queues the key if it is new.
func (rv *resolver) request(ctx context.Context, req Request, w Waiter) {
	rv.mu.Lock()
	if f, ok := rv.flights[req.ID()]; ok {
		if len(f.waiters) == 0 {
			rv.e.waitFor() // an adopted poll handle a row now waits for
		}
		f.waiters = append(f.waiters, w)
		rv.mu.Unlock()
		return
	}
	if err, ok := rv.failed[req.ID()]; ok {
		rv.mu.Unlock()
		w.Done(ctx, nil, err)
		return
	}
	if a, ok := rv.settled[req.ID()]; ok {
		rv.mu.Unlock()
		w.Done(ctx, a, nil)
		return
	}
	rv.flights[req.ID()] = &flight{waiters: []Waiter{w}}
	rv.e.waitFor()
	rv.mu.Unlock()
	rv.queued.Add(1)
	select {
	case rv.jobs <- job{req: req}:
	case <-rv.e.cfg.Budget.Done():
		rv.handled()
	case <-ctx.Done():
		rv.handled()
	}
}

// requeue puts j back in line for a worker (a throttled lookup whose
// Retry-After passed, or a claimed key this process now holds). It
// reports false when ctx ended first.
func (rv *resolver) requeue(ctx context.Context, j job) bool {
	rv.queued.Add(1)
	select {
	case rv.jobs <- j:
	case <-rv.e.cfg.Budget.Done():
		rv.handled()
	case <-ctx.Done():
		rv.handled()
		return false
	}
	return true
}

// handled counts one queued job done; the last one after the input ended
// lets the bulker upload what it holds.
func (rv *resolver) handled() {
	if rv.queued.Add(-1) == 0 && rv.e.inputDone.Load() && rv.e.bulk != nil && rv.kind == KindVerify {
		rv.e.bulk.poke()
	}
}

// settle completes key with a pending answer and remembers it for the
// rows of this run that need the key later.
func (rv *resolver) settle(ctx context.Context, key string, a *Answer) {
	rv.mu.Lock()
	if len(rv.settled) < maxFailed {
		rv.settled[key] = a
	}
	rv.mu.Unlock()
	rv.complete(ctx, key, a, nil)
}

// adopt registers a flight with no waiters yet, for a poll handle restored
// from the ledger: rows that need the key will wait for the poll.
func (rv *resolver) adopt(key string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if _, ok := rv.flights[key]; !ok {
		rv.flights[key] = &flight{}
	}
}

// maxFailed bounds the failed-key memory of a run.
const maxFailed = 100_000

// fail completes key with err and remembers the failure for later rows.
func (rv *resolver) fail(ctx context.Context, key string, err error) {
	rv.mu.Lock()
	if len(rv.failed) < maxFailed {
		rv.failed[key] = err
	}
	rv.mu.Unlock()
	rv.complete(ctx, key, nil, err)
}

// complete hands the answer (or error) to every waiter of key.
func (rv *resolver) complete(ctx context.Context, key string, a *Answer, err error) {
	rv.mu.Lock()
	f := rv.flights[key]
	delete(rv.flights, key)
	rv.mu.Unlock()
	if f == nil || len(f.waiters) == 0 {
		return
	}
	for _, w := range f.waiters {
		w.Done(ctx, a, err)
	}
	rv.e.answered()
}

// work handles jobs until every key rows wait for is answered, or the run
// stops (then it finishes the jobs already queued: those answered by the
// ledger or the cache still complete their rows; no new call is made).
func (rv *resolver) work(ctx context.Context) error {
	for {
		var j job
		select {
		case j = <-rv.jobs:
		case <-rv.e.drained:
			return nil
		case <-rv.e.cfg.Budget.Done():
			return rv.finish(ctx)
		case <-ctx.Done():
			return nil
		}
		err := rv.handle(ctx, j)
		rv.handled()
		if err != nil {
			return err
		}
	}
}

// finish handles the jobs queued when the run stopped.
func (rv *resolver) finish(ctx context.Context) error {
	for {
		select {
		case j := <-rv.jobs:
			err := rv.handle(ctx, j)
			rv.handled()
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		default:
			return nil
		}
	}
}

// handle resolves one job. It returns an error only for failures that must
// end the run (the ledger failing).
func (rv *resolver) handle(ctx context.Context, j job) error {
	e, key := rv.e, j.req.ID()
	if e.stored != nil && !e.stored.mayContain(rv.kind, key) {
		// A fresh job that never stored this key: nothing to read.
	} else if s, err := e.cfg.Ledger.Result(ctx, rv.kind, key); err != nil {
		return err
	} else if s != nil && s.Status != StatusPending {
		a, err := decodeAnswer(*s)
		if err != nil {
			return err
		}
		if !rv.republish(ctx, a) {
			return nil // the shared cache failed: the run is stopping
		}
		rv.complete(ctx, key, a, nil)
		return nil
	}
	// A pending answer in the ledger whose handle was not restored (the
	// server forgot it) is asked for again.
	if !j.claimed {
		if done, err := rv.fromCache(ctx, j, nil); done || err != nil {
			return err
		}
	}
	if rv.kind == KindVerify && e.bulk != nil {
		return e.bulk.add(ctx, key, j.req.For)
	}
	if e.cfg.Budget.Reserve(1) != 1 {
		return nil
	}
	a, err := rv.call(ctx, j.req)
	if customeros.Throttled(err) && j.throttles < maxThrottledRounds {
		// Not executed, so not paid: give the call back to the budget and
		// try again after Retry-After without holding this worker (the
		// pacer has slowed the endpoint meanwhile).
		e.cfg.Budget.Refund(1)
		e.cfg.Count(counter.Throttled, 1)
		var ae *customeros.APIError
		errors.As(err, &ae)
		now := time.Now()
		e.polls.add(&pollItem{kind: rv.kind, retry: true, req: j.req, throttles: j.throttles + 1,
			created: now, due: now.Add(max(ae.RetryAfter, 100*time.Millisecond))})
		return nil
	}
	if err != nil {
		if e.fatal(err) {
			return nil // the run is stopping; the row stays unwritten
		}
		e.cfg.Count(counter.LookupErrors, 1)
		rv.fail(ctx, key, err)
		return nil
	}
	if a == nil {
		return nil // parked for polling
	}
	return rv.store(ctx, key, a)
}

// fromCache completes j's key from the cross-run cache when it holds the
// key, or parks it when another process has claimed it (see ErrClaimed;
// it is the poll item of an earlier park, or nil). It reports whether it
// did either: false means the key is to be paid for. An error is the
// ledger failing.
func (rv *resolver) fromCache(ctx context.Context, j job, it *pollItem) (bool, error) {
	e, req := rv.e, j.req
	if e.cfg.Cache == nil || e.cfg.Refresh {
		return false, nil
	}
	s, err := e.cfg.Cache.Get(ctx, rv.kind, req.ID())
	if errors.Is(err, ErrClaimed) {
		rv.awaitClaim(j, it)
		return true, nil
	}
	if err != nil {
		e.log.Warn("cache read", "err", err)
		return false, nil
	}
	if s == nil {
		return false, nil
	}
	a, err := decodeAnswer(*s)
	if err == nil {
		a.Data.Origin, a.Data.For = OriginCache, req.For
		a.Stored.FetchedAt = time.Time{} // stored in the ledger now
		err = a.encode()
	}
	if err != nil {
		return false, nil
	}
	// Copy into the ledger so a resume sees the same answer even if the
	// cache entry expires meanwhile.
	if err := e.cfg.Ledger.PutResult(ctx, a.Stored); err != nil {
		return false, err
	}
	if e.stored != nil {
		e.stored.add(rv.kind, req.ID())
	}
	rv.complete(ctx, req.ID(), a, nil)
	return true, nil
}

// awaitClaim parks j, whose key another process has claimed, in the poll
// scheduler: recheck asks the shared cache again when it is due, first
// after ClaimPoll, then at growing intervals up to ClaimPollMax. No worker
// waits meanwhile. it is the item of an earlier park, or nil.
func (rv *resolver) awaitClaim(j job, it *pollItem) {
	e, now := rv.e, time.Now()
	if it == nil {
		e.cfg.Count(counter.ClaimWaits, 1)
		it = &pollItem{kind: rv.kind, claim: true, req: j.req, throttles: j.throttles, created: now,
			interval: e.cfg.ClaimPoll, due: now.Add(e.cfg.ClaimPoll)}
	} else {
		it.backOff(now, e.cfg.ClaimPollMax)
	}
	e.polls.add(it)
}

// recheck asks the shared cache again about a key another process had
// claimed: its answer completes the key, a claim still held parks it
// again, and a claim this process took over (the holder's expired without
// an answer) sends the key to a worker to pay for.
func (rv *resolver) recheck(ctx context.Context, it *pollItem) error {
	if rv.e.cfg.Budget.Stopping() {
		return nil
	}
	rv.e.cfg.Count(counter.ClaimPolls, 1)
	j := job{req: it.req, throttles: it.throttles}
	if done, err := rv.fromCache(ctx, j, it); done || err != nil {
		return err
	}
	j.claimed = true
	rv.requeue(ctx, j)
	return nil
}

// store makes an answer durable, caches it and completes its key. With a
// shared cache the key is complete only once the answer is in it: a Put
// that fails stops the run (the answer stays in the ledger, and the next
// run puts it into the shared cache before using it).
func (rv *resolver) store(ctx context.Context, key string, a *Answer, done ...PendingID) error {
	e := rv.e
	if err := e.cfg.Ledger.PutResult(ctx, a.Stored, done...); err != nil {
		return err
	}
	if e.stored != nil {
		e.stored.add(rv.kind, key)
	}
	if c := e.cfg.Cache; c != nil && a.Stored.Status != StatusPending {
		if err := c.Put(ctx, a.Stored); err != nil {
			if e.cfg.SharedCache {
				e.sharedCacheDown(err)
				return nil
			}
			e.log.Warn("cache write", "err", err)
		}
	}
	rv.complete(ctx, key, a, nil)
	return nil
}

// republish puts a paid answer that the ledger holds from an earlier run
// into the shared cache again, once per key and run (that run may have
// stopped between writing the ledger and the shared cache). It reports
// false when the shared cache failed (the run is stopping).
func (rv *resolver) republish(ctx context.Context, a *Answer) bool {
	e := rv.e
	if !e.cfg.SharedCache || e.cfg.Cache == nil || a.Data.Origin != OriginCall || !a.Stored.FetchedAt.Before(e.started) {
		return true
	}
	id := string(rv.kind) + "\x00" + a.Stored.Key
	if _, ok := e.republish.Load(id); ok {
		return true
	}
	if err := e.cfg.Cache.Put(ctx, a.Stored); err != nil {
		e.sharedCacheDown(err)
		return false
	}
	if e.republished.Add(1) <= maxFailed {
		e.republish.Store(id, struct{}{})
	}
	e.cfg.Count(counter.Republished, 1)
	return true
}

// ErrSharedCache is the cause of a stop when the shared cache could not
// store an answer.
var ErrSharedCache = errors.New("shared cache cannot store answers")

// sharedCacheDown stops the run because the shared cache failed to store
// an answer: its row stays unwritten (the answer is in the ledger).
func (e *Engine) sharedCacheDown(err error) {
	e.cfg.Budget.Stop(fmt.Errorf("%w (%w); the answers bought are kept in the job's state: rerun the same command when the database is back", ErrSharedCache, err))
}

// call makes the paid call for req. A nil answer with a nil error means the
// lookup was parked for polling.
func (rv *resolver) call(ctx context.Context, req Request) (*Answer, error) {
	e := rv.e
	switch rv.kind {
	case KindVerify:
		v, err := e.cfg.API.VerifyEmail(ctx, req.Key.Value)
		if err != nil {
			return nil, err
		}
		e.cfg.Bill(customeros.EndpointVerify, b2i(v.Billed()))
		return verifyAnswer(req.ID(), v, req.For)
	case KindPerson:
		q := customeros.PersonQuery{IncludeMobile: e.cfg.IncludeMobile}
		if req.Key.By == ByEmail {
			q.Email = req.Key.Value
		} else {
			q.LinkedInURL = req.Key.Value
		}
		if req.FirstName != "" || req.LastName != "" {
			q.FirstName, q.LastName = req.FirstName, req.LastName
		}
		p, err := e.cfg.API.EnrichPerson(ctx, q)
		if err != nil {
			return nil, err
		}
		e.cfg.Bill(customeros.EndpointPerson, b2i(p.BilledSync()))
		if p.Found && !p.Complete && p.ResultURL != "" {
			return nil, rv.park(ctx, req.ID(), req.For, p)
		}
		return personAnswer(req.ID(), p, req.For)
	default:
		q := customeros.OrganizationQuery{}
		if req.Key.By == ByDomain {
			q.Domain = req.Key.Value
		} else {
			q.LinkedInURL = req.Key.Value
		}
		o, err := e.cfg.API.EnrichOrganization(ctx, q)
		if err != nil {
			return nil, err
		}
		e.cfg.Bill(customeros.EndpointOrganization, b2i(o.Billed()))
		return orgAnswer(req.ID(), o, req.For)
	}
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// park makes a 202's result URL durable, then schedules its first poll.
func (rv *resolver) park(ctx context.Context, key string, seq int64, p *customeros.PersonResult) error {
	e := rv.e
	partial, err := json.Marshal(p)
	if err != nil {
		return err
	}
	data, err := json.Marshal(parked{For: []int64{seq}, Partial: partial})
	if err != nil {
		return err
	}
	now := time.Now()
	pd := Pending{Kind: KindPerson, Handle: p.ResultURL, Keys: []string{key}, Data: data, CreatedAt: now}
	if err := e.cfg.Ledger.PutPending(ctx, pd); err != nil {
		return err
	}
	e.cfg.Count(counter.AsyncParked, 1)
	e.polls.add(&pollItem{kind: KindPerson, key: key, fors: []int64{seq}, handle: p.ResultURL, partial: partial, created: now,
		interval: e.cfg.PollInitial, due: now.Add(e.cfg.PollInitial)})
	return nil
}

// parked is the Data of a pending handle: the rows the lookups were made
// for (one per key) and, for a person, the 202's partial answer.
type parked struct {
	For     []int64         `json:"for"`
	Partial json.RawMessage `json:"partial,omitempty"`
}

// pollPerson polls one parked person lookup.
func (rv *resolver) pollPerson(ctx context.Context, it *pollItem) error {
	e := rv.e
	if e.cfg.Budget.Stopping() {
		return nil
	}
	e.cfg.Count(counter.Polls, 1)
	p, err := e.cfg.API.PollPerson(ctx, it.handle)
	if err != nil {
		if e.fatal(err) {
			return nil
		}
		if customeros.Gone(err) {
			if err := e.forget(ctx, KindPerson, it.handle); err != nil {
				return err
			}
			e.cfg.Count(counter.LookupErrors, 1)
			rv.complete(ctx, it.key, nil, err)
			return nil
		}
		e.log.Warn("poll", "err", err)
		rv.reschedule(ctx, it)
		return nil
	}
	done := PendingID{Kind: KindPerson, Handle: it.handle}
	if !p.Found || p.Complete {
		a, err := personAnswer(it.key, p, it.fors[0])
		if err != nil {
			return err
		}
		return rv.store(ctx, it.key, a, done)
	}
	rv.reschedule(ctx, it)
	return nil
}

// reschedule plans the next poll, or gives up waiting after AsyncTimeout:
// the rows are written as pending and the handle stays in the ledger for a
// later run.
func (rv *resolver) reschedule(ctx context.Context, it *pollItem) {
	e := rv.e
	now := time.Now()
	if now.Sub(it.created) >= e.cfg.AsyncTimeout {
		var p customeros.PersonResult
		_ = json.Unmarshal(it.partial, &p)
		a, err := personAnswer(it.key, &p, it.fors[0])
		if err == nil {
			a.Stored.Status = StatusPending
			a.Stored.Verdict = StatusPending
			if err := e.cfg.Ledger.PutResult(ctx, a.Stored); err == nil {
				if e.stored != nil {
					e.stored.add(rv.kind, it.key)
				}
				e.cfg.Count(counter.AsyncTimeouts, 1)
				rv.settle(ctx, it.key, a)
				return
			}
		}
		rv.complete(ctx, it.key, nil, errors.New("async lookup timed out"))
		return
	}
	it.backOff(now, e.cfg.PollMax)
	e.polls.add(it)
}

// maxThrottledRounds bounds how often one lookup may be throttled before
// the run pauses (stops resumably) as rate limited.
const maxThrottledRounds = 30

// forget drops a handle the server does not know from the ledger, so that
// a later run asks again instead of polling a dead handle.
func (e *Engine) forget(ctx context.Context, kind Kind, handle string) error {
	return e.cfg.Ledger.DeletePending(ctx, PendingID{Kind: kind, Handle: handle})
}

// fatal reports whether err must stop the run (resumably) and stops it:
// the run is ending (its context), or the API halts it (see
// customeros.Halts: still throttled after every retry round, a
// Retry-After too long to wait, a key or credit problem, the breaker open
// because the API looks down; the row stays unwritten).
func (e *Engine) fatal(err error) bool {
	stop := e.cfg.Budget
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && stop.Stopping(),
		customeros.Halts(err):
		stop.Stop(err)
		return true
	}
	return false
}
