package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contactbatch/batch/customeros"
)

// resolver answers one kind of lookup with one call per unique key: rows
// that share a key while it is in flight wait on the same flight, later
// rows find the answer in the ledger.
type resolver struct {
	run  *Runner
	kind Kind

	mu      sync.Mutex
	flights map[string]*flight
	// failed remembers keys whose lookup failed for good this run, so rows
	// sharing the key get the same error without another call (bounded).
	failed map[string]error

	jobs chan job
}

// flight is one key being resolved and the rows waiting for it.
type flight struct {
	waiters []waiter
}

type waiter struct {
	rec *record
	l   *lookup
}

// job is work for a resolver's workers: a key to resolve; rec gives the
// query hints.
type job struct {
	key       string
	rec       *record
	throttles int // times this key was answered 429
}

func newResolver(r *Runner, k Kind) *resolver {
	return &resolver{run: r, kind: k, flights: map[string]*flight{}, failed: map[string]error{}, jobs: make(chan job, r.cfg.Workers)}
}

func (rv *resolver) enabled() bool {
	st := rv.run.cfg.Stages
	switch rv.kind {
	case KindVerify:
		return st.Verify
	case KindPerson:
		return st.EnrichPerson
	default:
		return st.EnrichOrg
	}
}

// start launches the resolver's workers in g.
func (rv *resolver) start(g *errgroup.Group, ctx context.Context) {
	if !rv.enabled() {
		return
	}
	if rv.kind == KindVerify && rv.run.cfg.VerifyMode == "bulk" {
		b := newBulker(rv)
		g.Go(func() error { return b.run(ctx) })
	}
	for range rv.run.cfg.Workers {
		g.Go(func() error { return rv.work(ctx) })
	}
}

// request adds rec as a waiter for l.key and queues the key if it is new.
func (rv *resolver) request(ctx context.Context, rec *record, l *lookup) {
	rv.mu.Lock()
	if f, ok := rv.flights[l.key]; ok {
		f.waiters = append(f.waiters, waiter{rec, l})
		rv.mu.Unlock()
		return
	}
	if err, ok := rv.failed[l.key]; ok {
		rv.mu.Unlock()
		l.err = err
		rv.run.lookupDone(rec)
		return
	}
	rv.flights[l.key] = &flight{waiters: []waiter{{rec, l}}}
	rv.mu.Unlock()
	select {
	case rv.jobs <- job{key: l.key, rec: rec}:
	case <-rv.run.stopCh:
	case <-ctx.Done():
	}
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
func (rv *resolver) fail(key string, err error) {
	rv.mu.Lock()
	if len(rv.failed) < maxFailed {
		rv.failed[key] = err
	}
	rv.mu.Unlock()
	rv.complete(key, nil, err)
}

// complete hands the answer (or error) to every waiter of key.
func (rv *resolver) complete(key string, a *answer, err error) {
	rv.mu.Lock()
	f := rv.flights[key]
	delete(rv.flights, key)
	rv.mu.Unlock()
	if f == nil {
		return
	}
	for _, w := range f.waiters {
		w.l.res, w.l.err = a, err
		rv.run.lookupDone(w.rec)
	}
}

func (rv *resolver) work(ctx context.Context) error {
	for {
		var j job
		select {
		case j = <-rv.jobs:
		case <-ctx.Done():
			return nil
		}
		rv.run.busy.Add(1)
		err := rv.handle(ctx, j)
		rv.run.busy.Add(-1)
		if err != nil {
			return err
		}
	}
}

// handle resolves one job. It returns an error only for failures that must
// end the run (the ledger failing).
func (rv *resolver) handle(ctx context.Context, j job) error {
	run := rv.run
	if run.stored != nil && !run.stored.mayContain(rv.kind, j.key) {
		// A fresh job that never stored this key: nothing to read.
	} else if s, err := run.cfg.Ledger.Result(ctx, rv.kind, j.key); err != nil {
		return err
	} else if s != nil {
		a, err := decodeAnswer(*s)
		if err != nil {
			return err
		}
		rv.complete(j.key, a, nil)
		return nil
	}
	if run.cfg.Cache != nil && !run.cfg.Refresh {
		s, err := run.cfg.Cache.Get(ctx, rv.kind, j.key)
		if err != nil {
			run.log.Warn("cache read", "err", err)
		} else if s != nil {
			a, err := decodeAnswer(*s)
			if err == nil {
				a.data.Origin, a.data.For = originCache, j.rec.seq
				err = a.encode()
			}
			if err == nil {
				// Copy into the ledger so a resume sees the same answer even
				// if the cache entry expires meanwhile.
				if err := run.cfg.Ledger.PutResult(ctx, a.stored); err != nil {
					return err
				}
				if run.stored != nil {
					run.stored.add(rv.kind, j.key)
				}
				rv.complete(j.key, a, nil)
				return nil
			}
		}
	}
	if rv.kind == KindVerify && run.cfg.VerifyMode == "bulk" {
		return rv.run.bulk.add(ctx, j.key, j.rec.seq)
	}
	if !run.reserve() {
		return nil
	}
	a, err := rv.call(ctx, j)
	if throttled(err) && j.throttles < maxThrottledRounds {
		// Not executed, so not paid: give the call back to the budget and
		// try again after Retry-After without holding this worker (the
		// pacer has slowed the endpoint meanwhile).
		run.calls.Add(-1)
		run.stats.count("throttled", 1)
		var ae *customeros.APIError
		errors.As(err, &ae)
		now := time.Now()
		run.polls.add(&pollItem{kind: rv.kind, retry: true, key: j.key, rec: j.rec, throttles: j.throttles + 1,
			created: now, due: now.Add(max(ae.RetryAfter, 100*time.Millisecond))})
		return nil
	}
	if err != nil {
		if run.fatal(err) {
			return nil // the run is stopping; the row stays unwritten
		}
		run.stats.count("lookup_errors", 1)
		rv.fail(j.key, err)
		return nil
	}
	if a == nil {
		return nil // parked for polling
	}
	return rv.store(ctx, j.key, a)
}

// store makes an answer durable, caches it and completes its key.
func (rv *resolver) store(ctx context.Context, key string, a *answer, done ...PendingID) error {
	if err := rv.run.cfg.Ledger.PutResult(ctx, a.stored, done...); err != nil {
		return err
	}
	if rv.run.stored != nil {
		rv.run.stored.add(rv.kind, key)
	}
	if c := rv.run.cfg.Cache; c != nil && a.stored.Status != StatusPending {
		if err := c.Put(ctx, a.stored); err != nil {
			rv.run.log.Warn("cache write", "err", err)
		}
	}
	rv.complete(key, a, nil)
	return nil
}

// call makes the paid call for j. A nil answer with a nil error means the
// lookup was parked for polling.
func (rv *resolver) call(ctx context.Context, j job) (*answer, error) {
	run := rv.run
	seq := j.rec.seq
	switch rv.kind {
	case KindVerify:
		v, err := run.cfg.API.VerifyEmail(ctx, j.key)
		if err != nil {
			return nil, err
		}
		run.stats.bill(customeros.EndpointVerify, b2i(v.Billed()))
		return verifyAnswer(j.key, v, seq)
	case KindPerson:
		q := customeros.PersonQuery{IncludeMobile: run.cfg.IncludeMobile}
		if k, ok := strings.CutPrefix(j.key, "email:"); ok {
			q.Email = k
		} else {
			q.LinkedInURL = strings.TrimPrefix(j.key, "linkedin:")
		}
		if c := j.rec.contact; c.FirstName != "" || c.LastName != "" {
			q.FirstName, q.LastName = c.FirstName, c.LastName
		}
		p, err := run.cfg.API.EnrichPerson(ctx, q)
		if err != nil {
			return nil, err
		}
		run.stats.bill(customeros.EndpointPerson, b2i(p.BilledSync()))
		if p.Found && !p.Complete && p.ResultURL != "" {
			return nil, rv.park(ctx, j.key, seq, p)
		}
		return personAnswer(j.key, p, seq)
	default:
		q := customeros.OrganizationQuery{}
		if k, ok := strings.CutPrefix(j.key, "domain:"); ok {
			q.Domain = k
		} else {
			q.LinkedInURL = strings.TrimPrefix(j.key, "linkedin:")
		}
		o, err := run.cfg.API.EnrichOrganization(ctx, q)
		if err != nil {
			return nil, err
		}
		run.stats.bill(customeros.EndpointOrganization, b2i(o.Billed()))
		return orgAnswer(j.key, o, seq)
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
	if err := rv.run.cfg.Ledger.PutPending(ctx, pd); err != nil {
		return err
	}
	rv.run.stats.count("async_parked", 1)
	rv.run.polls.add(&pollItem{kind: KindPerson, key: key, fors: []int64{seq}, handle: p.ResultURL, partial: partial, created: now,
		interval: rv.run.cfg.PollInitial, due: now.Add(rv.run.cfg.PollInitial)})
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
	run := rv.run
	if run.stopping() {
		return nil
	}
	run.stats.count("polls", 1)
	p, err := run.cfg.API.PollPerson(ctx, it.handle)
	if err != nil {
		if run.fatal(err) {
			return nil
		}
		if isGone(err) {
			// The handle is unknown to the server: forget it, so that a
			// later run asks again instead of polling a dead handle.
			if err := run.cfg.Ledger.DeletePending(ctx, PendingID{Kind: KindPerson, Handle: it.handle}); err != nil {
				return err
			}
			run.stats.count("lookup_errors", 1)
			rv.complete(it.key, nil, err)
			return nil
		}
		run.log.Warn("poll", "err", err)
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
	run := rv.run
	now := time.Now()
	if now.Sub(it.created) >= run.cfg.AsyncTimeout {
		var p customeros.PersonResult
		_ = json.Unmarshal(it.partial, &p)
		a, err := personAnswer(it.key, &p, it.fors[0])
		if err == nil {
			a.stored.Status = StatusPending
			a.stored.Verdict = StatusPending
			if err := run.cfg.Ledger.PutResult(ctx, a.stored); err == nil {
				if run.stored != nil {
					run.stored.add(rv.kind, it.key)
				}
				run.stats.count("async_timeouts", 1)
				rv.complete(it.key, a, nil)
				return
			}
		}
		rv.complete(it.key, nil, errors.New("async lookup timed out"))
		return
	}
	it.interval = min(time.Duration(float64(it.interval)*1.5), run.cfg.PollMax)
	it.due = now.Add(it.interval)
	run.polls.add(it)
}

// maxThrottledRounds bounds how often one lookup may be throttled before
// the run pauses (stops resumably) as rate limited.
const maxThrottledRounds = 30

// throttled reports a 429 whose Retry-After the client was willing to wait.
func throttled(err error) bool {
	var ae *customeros.APIError
	return errors.As(err, &ae) && ae.Status == 429 && ae.RetryAfter <= customeros.DefaultMaxRetryAfter
}

func isGone(err error) bool {
	var ae *customeros.APIError
	return errors.As(err, &ae) && ae.Status == 404
}

// fatal reports whether err must stop the run (resumably) and stops it.
func (r *Runner) fatal(err error) bool {
	var ae *customeros.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && r.stopping():
		r.stop(err)
		return true
	case errors.Is(err, customeros.ErrUnauthorized), errors.Is(err, customeros.ErrPaymentRequired),
		errors.Is(err, customeros.ErrForbidden):
		r.stop(err)
		return true
	case errors.As(err, &ae) && ae.Status == 429:
		// Still throttled after every retry round, or Retry-After too long
		// to wait in a worker: pause the run (resumable) rather than fail
		// rows that were never executed.
		r.stop(err)
		return true
	}
	return false
}

// reserve takes one paid call from the budget. It stops the run and
// returns false when the run is stopping or the budget is spent.
func (r *Runner) reserve() bool { return r.reserveUpTo(1) == 1 }

// reserveUpTo takes up to n paid calls from the budget and returns how many
// it took; 0 stops the run (the budget is spent, or it is stopping).
func (r *Runner) reserveUpTo(n int64) int64 {
	if r.stopping() {
		return 0
	}
	if r.cfg.MaxCalls <= 0 {
		r.calls.Add(n)
		return n
	}
	for {
		used := r.calls.Load()
		take := min(n, r.cfg.MaxCalls-used)
		if take <= 0 {
			r.stop(ErrBudget)
			return 0
		}
		if r.calls.CompareAndSwap(used, used+take) {
			return take
		}
	}
}

// originCall and originCache are resultData.Origin values.
const (
	originCall  = "call"
	originCache = "cache"
)

func verifyAnswer(key string, v *customeros.Verification, seq int64) (*answer, error) {
	a := &answer{data: resultData{Verification: v, Raw: v.Raw, Origin: originCall, For: seq}}
	a.stored = StoredResult{Kind: KindVerify, Key: key, Status: StatusFound, Verdict: string(v.Verdict)}
	return a, a.encode()
}

func personAnswer(key string, p *customeros.PersonResult, seq int64) (*answer, error) {
	a := &answer{data: resultData{Person: p, Raw: p.Raw, Origin: originCall, For: seq}}
	a.stored = StoredResult{Kind: KindPerson, Key: key, Status: StatusFound, Verdict: StatusFound}
	if !p.Found {
		a.stored.Status, a.stored.Verdict = StatusNotFound, StatusNotFound
	}
	return a, a.encode()
}

func orgAnswer(key string, o *customeros.OrganizationResult, seq int64) (*answer, error) {
	a := &answer{data: resultData{Organization: o, Raw: o.Raw, Origin: originCall, For: seq}}
	a.stored = StoredResult{Kind: KindOrg, Key: key, Status: StatusFound, Verdict: StatusFound}
	if !o.Found {
		a.stored.Status, a.stored.Verdict = StatusNotFound, StatusNotFound
	}
	return a, a.encode()
}

// encode stores a.data as JSON (encoding/json compacts the raw body, as
// the JSON output does either way).
func (a *answer) encode() error {
	data, err := json.Marshal(&a.data)
	if err != nil {
		return fmt.Errorf("encode the answer: %w", err)
	}
	a.stored.Data = data
	return nil
}
