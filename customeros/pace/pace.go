// Package pace paces the CustomerOS client's requests at just under the
// API's unpublished rate limit, whatever it is. *Pacer implements
// customeros.Pacer; set it as the Client's Pacer.
//
// Endpoints are paced in families, so that polls count against the same
// pace as the calls that made them: verify with the bulk job endpoints
// (submit, status, download), person with its 202 result polls, and
// organization. Each family has a pace (requests per second) and a bound on
// the requests in flight. A pace moves through these transitions:
//
//   - start: StartRate (2 req/s), then a slow start that doubles the pace
//     every 250 ms while requests succeed and the pace is used (the requests
//     sent in the step came within 80 % of it), so it never runs ahead of
//     what the callers ask for. The doubling slows as the requests in
//     flight grow (this family's and those of the other families in a slow
//     start, which may share the server's bucket), so that the excess a
//     server's burst hides, and the 429s it costs once the burst is spent,
//     stay a handful.
//   - first cut: the first 429 of a slow start means the bucket, full
//     while the pace was under the limit, is empty. Taking its burst to be a
//     second of the limit, the answers accepted since the pace passed the
//     limit are the limit times one second more than the time since; the
//     estimate is the upper end of what that allows (the next 429, at an
//     empty bucket, corrects it exactly), and the pace is cut to 99 % of it.
//   - cut: a 429 means the server's bucket is empty. The accepted rate
//     between the previous 429 cut and this one (both moments the bucket
//     was empty) is the limit; the pace is cut to 99 % of it. Without such
//     an estimate (too few answers since the last cut, no record of the
//     slow start) the pace is cut by the largest excess its growth could
//     have hidden (or to half the answers accepted in the last second, if
//     lower), and halved when the 429 follows a cut within a second (still
//     over). 429s that answer requests sent before the cut do not cut
//     again.
//   - hold and climb: after a cut the pace climbs by a fraction of itself
//     that grows with the time since the cut (0.02 % per second per second
//     at 2 req/s, 0.25 % at 10, 1 % from 20), so it touches the limit every
//     few seconds at high paces and every 20 to 30 s at a few requests per
//     second.
//     After the limit fell to under half a level it held for 5 s or more
//     (within the last minute), the climb is four times faster: a limit
//     that fell may come back, and that is then found within a couple of
//     seconds, at the cost of touching the lower limit more often.
//   - probe: once it is 5 % above the last estimate without a 429, and the
//     server accepted at least the pace since the cut and over the last
//     second, the limit has been raised; the pace goes back to the slow
//     start. Otherwise (tokens the bucket saved while the callers sent
//     less hide the limit) it holds at 5 % over; a hold of more than 10 s
//     counts the accepted answers afresh. Families that share a bucket
//     climb by their share, climb on into a share the others leave unused,
//     and probe when the bucket's use is over the sum of their estimates.
//     A family whose callers have asked for nothing for a second (its work
//     ran out: a list's domains all looked up) is idle and its estimate
//     leaves that sum, so the others probe for its share at once.
//   - pause: a Retry-After longer than PauseAfter (seconds or HTTP-date,
//     parsed by the client) holds the whole family until then.
//   - fail: five 5xx or transport errors in a row cut the pace by a
//     quarter, never below StartRate, so that an overloaded server is
//     asked less but an outage is still told by the client's breaker in
//     seconds. An attempt that reached no server (connection refused,
//     no such host) is no sign of load and does not count.
//
// When families share the server's bucket, a 429 in one cuts the others
// that have had 429s of their own in the last CoupleWindow (a coordinated
// cut), so they do not take turns overshooting; such families are
// coupled from then on (see probe). A family that never gets
// 429s is never cut by another's, so with one bucket per endpoint each
// family reaches its own limit.
//
// The in-flight bound is three times the pace times the mean latency (plus
// two): concurrency falls with the pace, so the requests in flight when a
// small bucket empties stay few. A request unanswered after four mean
// latencies (at least a second) stops counting, so stragglers (hangs, slow
// verifications) never stall a family.
package pace

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// Defaults set by New.
const (
	DefaultStartRate    = 2.0
	DefaultPauseAfter   = 5 * time.Second
	DefaultCoupleWindow = 2 * time.Second
)

// Tuning (see the package documentation).
const (
	step      = 250 * time.Millisecond // how often a pace may rise
	maxGrowth = 2.772588722239781      // ln 16 per second: ×2 per step
	inflightK = 24.0                   // growth ≤ inflightK / in-flight² per second
	// The steady climb's acceleration, fraction per second per second since
	// the cut: maxClimb from climbFull req/s, falling with the square of
	// the pace below it, to minClimb (0.02 %/s² at 2 req/s, 0.25 % at 10,
	// 1 % from 20): each touch of the limit is a larger share of the
	// requests at low paces.
	minClimb, maxClimb, climbFull = 0.0002, 0.01, 20.0
	unlimitedStart                = 8.0                   // a recalled pace that met no limit starts at this many times its rate
	holdReset                     = 10 * time.Second      // a hold longer than this counts the accepted answers afresh
	idleAfter                     = time.Second           // a family that asked for nothing this long (at least four intervals) is idle
	dropClimb                     = 4.0                   // climb this many times faster after the limit fell to under half a level it held
	dropHeld                      = 5 * time.Second       // how long a level must have held for its fall to count
	dropMemory                    = time.Minute           // how long a fall is remembered
	probeAt                       = 1.05                  // pace / estimate that starts probing again
	keep                          = 0.99                  // fraction of the estimate kept after a cut
	quick                         = time.Second           // a 429 this soon after a cut, without an estimate, halves
	minSamples                    = 4                     // accepted answers an estimate needs
	minRate                       = 0.1                   // the pace never goes below this
	tolerance                     = 10 * time.Millisecond // burst the gate allows, in time
	failCut                       = 0.75                  // factor after five 5xx or transport errors in a row (not below the start pace)
	failsForCut                   = 5
	latWeight                     = 0.1 // EWMA weight of one latency sample
)

// Clock tells the time and sleeps. Tests inject a fake one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Pacer paces requests per endpoint family. It implements customeros.Pacer.
// Set the fields before the first call.
type Pacer struct {
	// Max caps each family's pace in requests per second; 0 = no cap.
	Max float64
	// StartRate is each family's first pace (default 2 req/s).
	StartRate float64
	// PauseAfter is the Retry-After beyond which a family pauses.
	PauseAfter time.Duration
	// CoupleWindow: a 429 in one family cuts the families that had a 429
	// of their own this recently.
	CoupleWindow time.Duration
	// Clock defaults to the system clock.
	Clock Clock

	mu       sync.Mutex
	groups   map[family]*group
	recalled map[family]Pace
}

// Pace is what a family learned in one run, to start the next run near it
// (see Learned and Recall).
type Pace struct {
	// Rate in requests per second: the estimate of the server's limit when
	// Limited, otherwise the most requests accepted in a second.
	Rate float64 `json:"rate"`
	// Limited reports that the family got 429s and Rate estimates the
	// limit.
	Limited bool `json:"limited"`
}

// Learned returns what each family that sent requests learned, by family
// name (the endpoint that names it: verify, person, organization).
func (p *Pacer) Learned() map[string]Pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]Pace{}
	for f, g := range p.groups {
		switch {
		case g.ceiling > 0: // from a 429 in this run, or recalled
			out[string(f)] = Pace{Rate: g.ceiling, Limited: true}
		case g.own429.IsZero() && g.peakUsed >= minSamples:
			out[string(f)] = Pace{Rate: g.peakUsed}
		}
	}
	return out
}

// Recall starts the families named in m (as Learned names them) from what
// an earlier run learned, instead of StartRate: just under a remembered
// limit, climbing and probing from there as after a cut; or, when the
// earlier run met no limit, a slow start from eight times the most it was
// accepted in a second, so that the callers' concurrency binds rather than
// the pace (a 429 then is the first of a slow start, with its estimate;
// it may cost up to the requests in flight). Call it before the first
// Wait.
func (p *Pacer) Recall(m map[string]Pace) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recalled = map[family]Pace{}
	for name, pc := range m {
		if !math.IsNaN(pc.Rate) && !math.IsInf(pc.Rate, 0) && pc.Rate >= minRate {
			p.recalled[family(name)] = pc
		}
	}
}

// New returns a Pacer capped at max requests per second per family (0 =
// no cap), with the other fields at their defaults.
func New(max float64) *Pacer {
	return &Pacer{Max: max, StartRate: DefaultStartRate, PauseAfter: DefaultPauseAfter,
		CoupleWindow: DefaultCoupleWindow, Clock: systemClock{}}
}

// family names the endpoints that share one pace.
type family string

// familyOf maps an endpoint to its family: polls and bulk job requests go
// with the call that made them.
func familyOf(ep customeros.Endpoint) family {
	switch ep {
	case customeros.EndpointBulkSubmit, customeros.EndpointBulkStatus, customeros.EndpointBulkDownload:
		return family(customeros.EndpointVerify)
	case customeros.EndpointPersonPoll:
		return family(customeros.EndpointPerson)
	}
	return family(ep)
}

func (p *Pacer) clock() Clock {
	if p.Clock == nil {
		return systemClock{}
	}
	return p.Clock
}

// group returns ep's family state; p.mu is held.
func (p *Pacer) group(ep customeros.Endpoint) *group {
	f := familyOf(ep)
	g := p.groups[f]
	if g == nil {
		if p.groups == nil {
			p.groups = map[family]*group{}
		}
		r := p.startRate()
		if p.Max > 0 {
			r = math.Min(r, p.Max)
		}
		g = &group{rate: r, ramping: true, voided: make(chan struct{}), freed: make(chan struct{})}
		if m, ok := p.recalled[f]; ok && m.Rate > 0 {
			if m.Limited {
				g.rate, g.ceiling, g.ramping = keep*m.Rate, m.Rate, false
			} else {
				// The last run met no limit: let the callers' concurrency,
				// not the pace, bind until a 429 says otherwise.
				g.rate = unlimitedStart * m.Rate
			}
			g.setRate(time.Time{}, g.rate, p.Max)
		}
		p.groups[f] = g
	}
	return g
}

// startRate is StartRate, or its default.
func (p *Pacer) startRate() float64 {
	if p.StartRate <= 0 {
		return DefaultStartRate
	}
	return p.StartRate
}

// Wait blocks until ep may send, or ctx is done. Every nil return must be
// followed by one Observe for ep.
func (p *Pacer) Wait(ctx context.Context, ep customeros.Endpoint) error {
	clk := p.clock()
	for {
		p.mu.Lock()
		g := p.group(ep)
		now := clk.Now()
		v, at, gen := g.try(now)
		var timer <-chan time.Time
		var woke <-chan struct{}
		switch v {
		case granted:
			p.mu.Unlock()
			return nil
		case full:
			g.slotWaiters++
			woke = g.freed
			if !at.IsZero() {
				timer = clk.After(at.Sub(now))
			}
		default: // booked or paused
			timer, woke = clk.After(at.Sub(now)), g.voided
		}
		p.mu.Unlock()
		err := wait(ctx, timer, woke)
		p.mu.Lock()
		switch v {
		case full:
			g.slotWaiters--
		case booked:
			if err == nil && g.claim(clk.Now(), gen) {
				p.mu.Unlock()
				return nil
			}
			if err != nil {
				g.cancel()
			}
		}
		p.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// wait blocks until timer fires (nil: never), woke is closed, or ctx is
// done; only the last is an error.
func wait(ctx context.Context, timer <-chan time.Time, woke <-chan struct{}) error {
	select {
	case <-timer:
		return nil
	case <-woke:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Observe adapts ep's family pace to one attempt's outcome.
func (p *Pacer) Observe(ep customeros.Endpoint, o customeros.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.group(ep)
	now := p.clock().Now()
	g.done(now)
	switch {
	case o.Status == 429:
		p.throttled(g, now, o.RetryAfter)
	case o.Status == 0 && o.Unsent && o.Err != nil:
		// Nothing reached a server (connection refused): no sign of
		// overload, so no cut; the client's retries and its breaker
		// decide how soon an unreachable API stops a run. (The grant is
		// not given back: bookings after it hold their slots.)
	case o.Status >= 500 || (o.Status == 0 && o.Err != nil && !errors.Is(o.Err, context.Canceled)):
		g.fails++
		if g.fails >= failsForCut {
			// An overloaded server is asked less; but never below the
			// start pace, so that the client's retries and its breaker
			// tell an outage in seconds, not minutes.
			g.fails = 0
			g.setRate(now, math.Max(g.rate*failCut, math.Min(g.rate, p.startRate())), p.Max)
			g.void()
		}
	case o.Status > 0 && o.Status < 400:
		g.fails = 0
		g.accept(now)
		g.raise(now, p)
	}
}

// throttled handles a 429 in g.
func (p *Pacer) throttled(g *group, now time.Time, retryAfter time.Duration) {
	g.own429 = now
	pauseAfter := p.PauseAfter
	if pauseAfter <= 0 {
		pauseAfter = DefaultPauseAfter
	}
	if retryAfter > pauseAfter && now.Add(retryAfter).After(g.pausedTill) {
		g.pausedTill = now.Add(retryAfter)
		g.void()
	}
	if g.inShadow(now) {
		return // the answer to a request sent before the last cut
	}
	g.cut429(now, p.Max)
	window := p.CoupleWindow
	if window <= 0 {
		window = DefaultCoupleWindow
	}
	for _, h := range p.groups {
		if h != g && !h.own429.IsZero() && now.Sub(h.own429) < window {
			g.coupled, h.coupled = true, true // 429s together: one bucket
			if !h.inShadow(now) {
				h.coordinatedCut(now, p.Max)
			}
		}
	}
}

// Limit returns ep's family pace in requests per second.
func (p *Pacer) Limit(ep customeros.Endpoint) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.group(ep).rate
}

// InFlight returns the requests of ep's family between Wait and Observe
// (reserved or on the wire), and the bound on them.
func (p *Pacer) InFlight(ep customeros.Endpoint) (n, capacity int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.group(ep)
	return g.inflight, g.capacity()
}
