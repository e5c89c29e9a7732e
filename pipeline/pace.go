package pipeline

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/contactbatch/batch/customeros"
)

// Pacer paces requests per endpoint: a token bucket capped by the user's
// --rate, cut when the API answers 429 or a burst of 5xx, and raised again
// additively while requests succeed (AIMD). It implements
// customeros.Pacer.
//
// A 429 cuts the endpoint's rate to CutFactor of the rate the API
// actually accepted over the last second, at most once per 250 ms (the
// requests already in flight when the first 429 arrived would otherwise
// cut it again). A Retry-After longer than PauseAfter pauses the whole
// endpoint until then; a shorter one is waited for only by the request
// that received it (the client does that), since the cut rate already
// keeps the others under the limit.
type Pacer struct {
	// Max caps each endpoint's rate in requests per second; 0 = no cap
	// until the API pushes back.
	Max float64
	// CutFactor is the fraction of the accepted rate kept after a 429.
	CutFactor float64
	// Increase is added to the rate per second without throttling, as a
	// fraction of the current rate (at least 0.5 req/s).
	Increase float64
	// PauseAfter is the Retry-After beyond which the endpoint pauses.
	PauseAfter time.Duration

	mu  sync.Mutex
	eps map[customeros.Endpoint]*pace
}

// NewPacer returns a Pacer capped at max requests per second (0 = none).
func NewPacer(max float64) *Pacer {
	return &Pacer{Max: max, CutFactor: 0.95, Increase: 0.02, PauseAfter: 5 * time.Second,
		eps: map[customeros.Endpoint]*pace{}}
}

type pace struct {
	mu sync.Mutex
	// lim is nil while the endpoint is unlimited. (A rate.Limiter moved
	// from rate.Inf to a finite limit can be left with NaN tokens.)
	lim       *rate.Limiter
	paused    time.Time
	lastCut   time.Time
	lastRaise time.Time
	fails     int
	// accepted counts successful responses per 100 ms slot over the last second.
	slots    [10]int
	slotTime time.Time
	first    time.Time // first accepted response
	// probing is true after the first cut from an unlimited pace: the
	// estimate made then rests on very little data, so the rate grows
	// multiplicatively until the next 429.
	probing bool
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

// cutEvery spaces rate cuts: requests already in flight when the first 429
// came back would otherwise cut the rate again for the same excess.
const cutEvery = 250 * time.Millisecond

func burstFor(r float64) int { return max(1, int(r/20)) }

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
		e.cut(now, p.CutFactor)
	case o.Status >= 500 || o.Err != nil:
		e.fails++
		if e.fails >= 5 {
			e.fails = 0
			e.cut(now, 0.75)
		}
	case o.Status > 0 && o.Status < 400:
		e.fails = 0
		e.accept(now)
		e.raise(now, p)
	}
}

// accept counts one accepted request in the current 100 ms slot.
func (e *pace) accept(now time.Time) {
	if e.first.IsZero() {
		e.first = now
	}
	e.roll(now)
	e.slots[now.UnixMilli()/100%10]++
}

// roll clears the slots that are older than a second.
func (e *pace) roll(now time.Time) {
	cur := now.UnixMilli() / 100
	last := e.slotTime.UnixMilli() / 100
	if e.slotTime.IsZero() || cur-last >= 10 {
		e.slots = [10]int{}
	} else {
		for s := last + 1; s <= cur; s++ {
			e.slots[s%10] = 0
		}
	}
	e.slotTime = now
}

func (e *pace) acceptedRate(now time.Time) float64 {
	e.roll(now)
	n := 0
	for _, c := range e.slots {
		n += c
	}
	// Early on the window is shorter than a second.
	span := min(time.Second, now.Sub(e.first)+100*time.Millisecond)
	return float64(n) / span.Seconds()
}

func (e *pace) cut(now time.Time, factor float64) {
	if now.Sub(e.lastCut) < cutEvery {
		return
	}
	e.lastCut, e.lastRaise = now, now
	e.probing = e.lim == nil
	base := e.acceptedRate(now)
	if e.lim != nil {
		if cur := float64(e.lim.Limit()); base <= 0 || cur < base {
			base = cur
		}
	}
	r := math.Max(0.5, base*factor)
	e.set(now, r)
}

func (e *pace) set(now time.Time, r float64) {
	if e.lim == nil {
		e.lim = rate.NewLimiter(rate.Limit(r), burstFor(r))
		return
	}
	e.lim.SetLimitAt(now, rate.Limit(r))
	e.lim.SetBurstAt(now, burstFor(r))
}

func (e *pace) raise(now time.Time, p *Pacer) {
	if e.lim == nil {
		return
	}
	cur := float64(e.lim.Limit())
	var r float64
	switch {
	case e.probing && now.Sub(e.lastRaise) >= cutEvery:
		r = cur * 1.5
	case !e.probing && now.Sub(e.lastRaise) >= time.Second:
		r = cur + math.Max(0.5, cur*p.Increase)
	default:
		return
	}
	e.lastRaise = now
	if p.Max > 0 {
		r = math.Min(r, p.Max)
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
