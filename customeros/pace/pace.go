// Package pace paces the CustomerOS client's requests per endpoint at
// just under the API's unpublished rate limit. *Pacer implements
// customeros.Pacer; set it as the Client's Pacer.
package pace

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/contactbatch/batch/customeros"
)

// Pacer paces requests per endpoint. It implements customeros.Pacer.
//
// An endpoint starts unlimited (or at --rate, which is never exceeded). The
// first 429 reveals that the API has a limit:
//
//   - if the API accepted requests in the moments before, that accepted
//     rate is the estimate of the limit (the ceiling) and the pace is cut
//     to CutFactor of it;
//   - if nothing was accepted yet, or only for less than a second (a rate
//     measured over a few milliseconds says nothing), the pace restarts at
//     StartRate and probes: it grows by half every 250 ms while requests
//     succeed, until the next 429 sets the ceiling.
//
// Below the ceiling the pace climbs back quickly (x1.1 per 250 ms) to 98 %
// of it, then slowly: each second by Increase times the seconds since the
// last 429, so it sits just under the limit, touches it only rarely, and
// still finds a limit that was underestimated or has been raised. Cuts are at least 250 ms apart: the
// requests in flight when the first 429 came back would otherwise cut the
// pace again for the same excess. Five 5xx in a row cut it too.
//
// A Retry-After longer than PauseAfter pauses the whole endpoint until
// then; a shorter one is waited for only by the request that got it (the
// client does that), since the cut pace already keeps the others under
// the limit.
type Pacer struct {
	// Max caps each endpoint's rate in requests per second; 0 = no cap
	// until the API pushes back.
	Max float64
	// CutFactor is the fraction of the accepted rate kept after a 429.
	CutFactor float64
	// StartRate is where probing starts when a 429 came before any
	// request was accepted.
	StartRate float64
	// Increase is added per second near the ceiling, as a fraction of the
	// current rate (at least 0.5 req/s).
	Increase float64
	// PauseAfter is the Retry-After beyond which the endpoint pauses.
	PauseAfter time.Duration

	mu  sync.Mutex
	eps map[customeros.Endpoint]*pace
}

// New returns a Pacer capped at max requests per second (0 = none).
func New(max float64) *Pacer {
	return &Pacer{Max: max, CutFactor: 0.95, StartRate: 50, Increase: 0.03, PauseAfter: 5 * time.Second,
		eps: map[customeros.Endpoint]*pace{}}
}

// step is how often the pace may change, up or down.
const step = 250 * time.Millisecond

// probeStep is the factor by which probing raises the pace each step.
const probeStep = 1.5

// slot is the resolution of the accepted-rate estimate.
const slot = 100 * time.Millisecond

type pace struct {
	mu sync.Mutex
	// lim is nil while the endpoint is unlimited. (A rate.Limiter moved
	// from rate.Inf to a finite limit can be left with NaN tokens.)
	lim       *rate.Limiter
	paused    time.Time
	lastCut   time.Time
	lastRaise time.Time
	fails     int
	probing   bool
	ceiling   float64 // accepted rate when the last 429 came; 0 = unknown
	// slots count accepted requests per 100 ms over the last second.
	slots    [10]int
	slotTime time.Time
	first    time.Time // first accepted request
}

func (p *Pacer) get(ep customeros.Endpoint) *pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.eps[ep]
	if e == nil {
		e = &pace{}
		if p.Max > 0 {
			e.lim = rate.NewLimiter(rate.Limit(p.Max), burstFor(p.Max))
		}
		p.eps[ep] = e
	}
	return e
}

// burstFor keeps bursts small (10 ms worth): a server's own bucket may
// allow little more than its average rate.
func burstFor(r float64) int { return max(1, int(r/100)) }

// Wait blocks until ep may send.
func (p *Pacer) Wait(ctx context.Context, ep customeros.Endpoint) error {
	e := p.get(ep)
	e.mu.Lock()
	until, lim := e.paused, e.lim
	e.mu.Unlock()
	if d := time.Until(until); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if lim == nil {
		return nil
	}
	return lim.Wait(ctx)
}

// Observe adapts ep's pace to one response.
func (p *Pacer) Observe(ep customeros.Endpoint, o customeros.Outcome) {
	e := p.get(ep)
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case o.Status == 429:
		if o.RetryAfter > p.PauseAfter {
			e.paused = now.Add(o.RetryAfter)
		}
		e.cut(now, p.CutFactor, p)
	case o.Status >= 500 || (o.Status == 0 && o.Err != nil):
		e.fails++
		if e.fails >= 5 {
			e.fails = 0
			e.cut(now, 0.75, p)
		}
	case o.Status > 0 && o.Status < 400:
		e.fails = 0
		e.accept(now)
		e.raise(now, p)
	}
}

// accept counts one accepted request.
func (e *pace) accept(now time.Time) {
	if e.first.IsZero() {
		e.first = now
	}
	e.roll(now)
	e.slots[now.UnixNano()/int64(slot)%10]++
}

// roll clears the slots that are older than a second.
func (e *pace) roll(now time.Time) {
	cur := now.UnixNano() / int64(slot)
	last := e.slotTime.UnixNano() / int64(slot)
	if e.slotTime.IsZero() || cur-last >= 10 {
		e.slots = [10]int{}
	} else {
		for s := last + 1; s <= cur; s++ {
			e.slots[s%10] = 0
		}
	}
	e.slotTime = now
}

// recentRate is the accepted rate over about the last 400 ms.
func (e *pace) recentRate(now time.Time) float64 {
	if e.first.IsZero() {
		return 0
	}
	e.roll(now)
	cur := now.UnixNano() / int64(slot)
	n := 0
	for s := cur - 3; s <= cur; s++ {
		n += e.slots[(s%10+10)%10]
	}
	span := 3*slot + time.Duration(now.UnixNano()%int64(slot))
	span = min(span, now.Sub(e.first)+slot)
	return float64(n) / span.Seconds()
}

func (e *pace) cut(now time.Time, factor float64, p *Pacer) {
	if now.Sub(e.lastCut) < step {
		return
	}
	e.lastCut, e.lastRaise = now, now
	accepted := e.recentRate(now)
	if accepted <= 0 || (e.lim == nil && now.Sub(e.first) < time.Second) {
		// Throttled before anything (or much) was accepted: a rate
		// measured over a few milliseconds says nothing. Probe from low.
		r := p.StartRate
		if e.lim != nil {
			r = math.Min(r, float64(e.lim.Limit())*factor)
		}
		e.probing = true
		e.set(now, math.Max(0.5, r), p)
		return
	}
	if e.probing && e.lim != nil {
		// The last probe step overshot: the limit lies between the previous
		// pace, which passed, and this one. What was accepted so far was
		// paced below the limit, so it underestimates it.
		accepted = math.Max(accepted, (1+1/probeStep)/2*float64(e.lim.Limit()))
	}
	if e.ceiling > 0 {
		// A known ceiling comes down by at most 10 % a cut: while workers
		// sleep out their Retry-After the accepted rate drops for reasons
		// of our own, not the API's.
		accepted = math.Max(accepted, 0.9*e.ceiling)
	}
	e.probing, e.ceiling = false, accepted
	r := accepted * factor
	if e.lim != nil {
		r = math.Min(r, float64(e.lim.Limit())*factor)
	}
	e.set(now, math.Max(0.5, r), p)
}

func (e *pace) raise(now time.Time, p *Pacer) {
	if e.lim == nil || now.Sub(e.lastRaise) < step {
		return
	}
	cur := float64(e.lim.Limit())
	var r float64
	switch {
	case e.probing:
		r = cur * probeStep
	case e.ceiling > 0 && cur < 0.98*e.ceiling:
		r = math.Min(cur*1.1, 0.98*e.ceiling)
	case now.Sub(e.lastRaise) >= time.Second:
		// The longer since the last 429, the faster the climb: the limit
		// may have been underestimated, or raised.
		since := math.Max(1, now.Sub(e.lastCut).Seconds())
		r = cur + math.Max(0.5, cur*p.Increase*since)
	default:
		return
	}
	e.lastRaise = now
	e.set(now, r, p)
}

func (e *pace) set(now time.Time, r float64, p *Pacer) {
	if p.Max > 0 {
		r = math.Min(r, p.Max)
	}
	if e.lim == nil {
		e.lim = rate.NewLimiter(rate.Limit(r), burstFor(r))
		return
	}
	e.lim.SetLimitAt(now, rate.Limit(r))
	e.lim.SetBurstAt(now, burstFor(r))
}

// Limit returns ep's current pace in requests per second (+Inf when the
// endpoint is not limited).
func (p *Pacer) Limit(ep customeros.Endpoint) float64 {
	e := p.get(ep)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lim == nil {
		return math.Inf(1)
	}
	return float64(e.lim.Limit())
}
