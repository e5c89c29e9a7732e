package pace

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// harness drives one Pacer with a fake clock: each request is sent at the
// earliest time the pace allows (the clock moves there) and answered after
// lat. Nothing sleeps.
type harness struct {
	t   *testing.T
	clk *fakeClock
	p   *Pacer
	lat time.Duration
}

func newHarness(t *testing.T) *harness {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := New(0)
	p.Clock = clk
	return &harness{t: t, clk: clk, p: p, lat: 10 * time.Millisecond}
}

func (h *harness) group(ep customeros.Endpoint) *group {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.p.group(ep)
}

// send sends one request of ep when the pace allows and answers it with
// status (and retryAfter) lat later.
func (h *harness) send(ep customeros.Endpoint, status int, retryAfter time.Duration) {
	h.t.Helper()
	h.answer(ep, customeros.Outcome{Status: status, RetryAfter: retryAfter})
}

// answer sends one request of ep when the pace allows and observes o lat
// later.
func (h *harness) answer(ep customeros.Endpoint, o customeros.Outcome) {
	h.t.Helper()
	g := h.group(ep)
	for range 1000 {
		h.p.mu.Lock()
		v, at, gen := g.try(h.clk.now)
		switch v {
		case granted:
		case booked:
			h.clk.now = at
			if !g.claim(at, gen) {
				h.p.mu.Unlock()
				continue
			}
		case paused:
			h.clk.now = at
			h.p.mu.Unlock()
			continue
		case full:
			h.p.mu.Unlock()
			h.t.Fatalf("%s: %d requests in flight, bound %d, with nothing outstanding", ep, g.inflight, g.capacity())
		}
		h.p.mu.Unlock()
		h.clk.now = h.clk.now.Add(h.lat)
		h.p.Observe(ep, o)
		return
	}
	h.t.Fatalf("%s: no grant after 1000 tries", ep)
}

// run sends accepted requests of ep for d.
func (h *harness) run(ep customeros.Endpoint, d time.Duration) {
	h.t.Helper()
	end := h.clk.now.Add(d)
	for h.clk.now.Before(end) {
		h.send(ep, 200, 0)
	}
}

const v = customeros.EndpointVerify

// TestTransitions walks a pace through each transition and checks where
// it lands.
func TestTransitions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drive func(h *harness)
		check func(t *testing.T, h *harness, before float64)
	}{
		{
			name:  "start at StartRate",
			drive: func(*harness) {},
			check: func(t *testing.T, h *harness, _ float64) {
				if got := h.p.Limit(v); got != DefaultStartRate {
					t.Errorf("first pace = %v, want %v", got, DefaultStartRate)
				}
			},
		},
		{
			name:  "slow start doubles while used",
			drive: func(h *harness) { h.run(v, 2*time.Second) },
			check: func(t *testing.T, h *harness, _ float64) {
				if got := h.p.Limit(v); got < 64 {
					t.Errorf("pace after 2 s of successes = %.1f, want ≥ 64 (×2 per 250 ms from 2)", got)
				}
			},
		},
		{
			name: "slow start does not run ahead of use",
			drive: func(h *harness) {
				for range 20 { // one request a second: the pace is not used
					h.send(v, 200, 0)
					h.clk.now = h.clk.now.Add(time.Second)
				}
			},
			check: func(t *testing.T, h *harness, _ float64) {
				if got := h.p.Limit(v); got > 2*DefaultStartRate {
					t.Errorf("pace after 20 s at 1 req/s = %.1f, want it to stay near %v", got, DefaultStartRate)
				}
			},
		},
		{
			name:  "cut: the first 429 cuts below the pace",
			drive: func(h *harness) { h.run(v, 1500*time.Millisecond) },
			check: func(t *testing.T, h *harness, before float64) {
				h.send(v, 429, 0)
				g := h.group(v)
				if g.rate >= before*0.5 {
					t.Errorf("pace after the first 429 = %.1f, want well under %.1f", g.rate, before)
				}
				if !g.cutEmpty || !g.cutOwn {
					t.Errorf("cut not recorded as an empty bucket")
				}
			},
		},
		{
			name: "cut: the rate accepted between two 429s is the limit",
			drive: func(h *harness) {
				h.run(v, 1500*time.Millisecond)
				h.send(v, 429, 0)
				g := h.group(v)
				g.rate, g.ramping = 100, false // pace at 100 req/s for 2 s: 200 accepted
				h.run(v, 2*time.Second)
				h.send(v, 429, 0)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				if g.ceiling < 85 || g.ceiling > 100 {
					t.Errorf("estimate = %.1f, want about 100 (about 200 accepted in 2 s)", g.ceiling)
				}
				if math.Abs(g.rate-keep*g.ceiling) > 0.01 || g.ramping {
					t.Errorf("pace = %.1f (ramping %v), want %.2f of the estimate, steady", g.rate, g.ramping, keep)
				}
			},
		},
		{
			name: "cut: the first 429 of a slow start takes the limit from the burst it spent",
			drive: func(h *harness) {
				h.run(v, 1500*time.Millisecond)
			},
			check: func(t *testing.T, h *harness, before float64) {
				g := h.group(v)
				n, start := g.accepted, g.ramp[0].at
				h.send(v, 429, 0)
				// At least the answers over (1 s + the whole ramp): the
				// oldest point of the record always qualifies.
				low := float64(n) / (1 + h.clk.now.Sub(start).Seconds())
				if g.ramping || g.ceiling < low || g.ceiling > before {
					t.Errorf("estimate %.1f (ramping %v), want steady in [%.1f, %.1f]", g.ceiling, g.ramping, low, before)
				}
				if math.Abs(g.rate-keep*g.ceiling) > 0.01 {
					t.Errorf("pace %.2f, want %.2f of the estimate %.2f", g.rate, keep, g.ceiling)
				}
				if len(g.ramp) != 0 {
					t.Errorf("ramp record kept after the cut: %d points", len(g.ramp))
				}
			},
		},
		{
			name: "slow start: families starting together grow as one",
			drive: func(h *harness) {
				h.lat = 50 * time.Millisecond // enough in flight for the bound to bite
				h.run(v, 2*time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				alone := g.growth(h.clk.now)
				g.peers = 4 * g.rate * g.lat
				if with := g.growth(h.clk.now); with >= alone {
					t.Errorf("growth with peers in a slow start %.3f/s, want under %.3f/s alone", with, alone)
				}
			},
		},
		{
			name: "hold: 429s answering requests sent before the cut do not cut again",
			drive: func(h *harness) {
				h.run(v, 1500*time.Millisecond)
				h.send(v, 429, 0)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				after := h.p.Limit(v)
				h.p.Observe(v, customeros.Outcome{Status: 429}) // same moment: in the shadow
				if got := h.p.Limit(v); got != after {
					t.Errorf("pace after a 429 in the shadow of the cut = %.1f, want %.1f held", got, after)
				}
			},
		},
		{
			name: "cut: a 429 right after a cut, without an estimate, halves",
			drive: func(h *harness) {
				h.run(v, 1500*time.Millisecond)
				h.send(v, 429, 0)
				h.clk.now = h.clk.now.Add(100 * time.Millisecond)
			},
			check: func(t *testing.T, h *harness, before float64) {
				h.send(v, 429, 0)
				if got := h.p.Limit(v); math.Abs(got-before/2) > 0.01 {
					t.Errorf("pace = %.2f, want half of %.2f", got, before)
				}
			},
		},
		{
			name: "climb: after a cut the pace climbs slowly",
			drive: func(h *harness) {
				h.run(v, 1500*time.Millisecond)
				h.send(v, 429, 0)
				g := h.group(v)
				g.rate, g.ceiling, g.ramping = keep*100, 100, false
				h.run(v, 3*time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				// 1 %/s² at this pace: about +4.5 % after 3 s, short of the probe.
				if g.rate <= 100 || g.rate >= probeAt*100 || g.ramping {
					t.Errorf("pace 3 s after the cut = %.2f (ramping %v), want a slow climb above 100 and under %v", g.rate, g.ramping, probeAt*100)
				}
			},
		},
		{
			name: "climb: after the limit fell from a level it held, the climb is faster",
			drive: func(h *harness) {
				g := h.group(v)
				// The limit held at 100 for 10 s (cuts near it), then fell to 10.
				for i := range 6 {
					h.clk.now = h.clk.now.Add(2 * time.Second)
					h.p.mu.Lock()
					g.ceiling = 100
					g.noteHigh(h.clk.now)
					if i == 5 {
						g.ceiling = 10
						g.noteHigh(h.clk.now)
					}
					h.p.mu.Unlock()
				}
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				h.p.mu.Lock()
				defer h.p.mu.Unlock()
				g.rate, g.ramping, g.cut = keep*10, false, h.clk.now
				fell := g.growth(h.clk.now.Add(time.Second))
				if !g.dropped(h.clk.now) {
					t.Fatalf("a fall from 100 held for 10 s to 10 is not remembered")
				}
				g.high = 0 // no memory of the higher level
				steady := g.growth(h.clk.now.Add(time.Second))
				if math.Abs(fell-dropClimb*steady) > 1e-12 {
					t.Errorf("climb after the fall %.5f/s, want %v × the steady %.5f/s", fell, dropClimb, steady)
				}
				if g.high = 100; g.dropped(h.clk.now.Add(dropMemory + time.Second)) {
					t.Errorf("the fall is still remembered after dropMemory")
				}
			},
		},
		{
			name: "probe: 5 % over the estimate without a 429, slow start again",
			drive: func(h *harness) {
				h.run(v, 1500*time.Millisecond)
				h.send(v, 429, 0)
				g := h.group(v)
				g.rate, g.ceiling, g.ramping = keep*100, 100, false
				h.lat = 2 * time.Millisecond // one request at a time keeps up with more than 100 req/s
				h.run(v, 10*time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				if !g.ramping || g.rate < 200 {
					t.Errorf("pace 10 s after the cut with no 429 = %.1f (ramping %v), want a probe above 200", g.rate, g.ramping)
				}
			},
		},
		{
			name: "hold: a long stall long ago does not hold the pace for good",
			drive: func(h *harness) {
				h.lat = 2 * time.Millisecond
				h.run(v, 1500*time.Millisecond)
				h.send(v, 429, 0)
				g := h.group(v)
				g.rate, g.ceiling, g.ramping = keep*100, 100, false
				h.run(v, time.Second)
				h.clk.now = h.clk.now.Add(5 * time.Second) // the process stalled
				h.run(v, 30*time.Second)                   // a limit over 100: accepted at every pace
			},
			check: func(t *testing.T, h *harness, _ float64) {
				if g := h.group(v); !g.ramping && g.rate <= probeAt*100 {
					t.Errorf("pace 30 s after a 5 s stall with no 429 = %.2f (ramping %v), want a probe past %.0f", g.rate, g.ramping, probeAt*100)
				}
			},
		},
		{
			name: "hold: no probe on tokens the bucket saved while the callers sent less",
			drive: func(h *harness) {
				h.run(v, 1500*time.Millisecond)
				h.send(v, 429, 0)
				g := h.group(v)
				g.rate, g.ceiling, g.ramping = keep*100, 100, false
				h.run(v, 2*time.Second)
				h.clk.now = h.clk.now.Add(2 * time.Second) // the callers paused
				h.run(v, 6*time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				if g.ramping || math.Abs(g.rate-probeAt*100) > 1e-9 {
					t.Errorf("pace after a pause and a climb with no 429 = %.2f (ramping %v), want it held at %.0f", g.rate, g.ramping, probeAt*100)
				}
			},
		},
		{
			name: "pause: a long Retry-After holds the family",
			drive: func(h *harness) {
				h.run(v, time.Second)
				h.send(v, 429, 30*time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				h.p.mu.Lock()
				verdict, at, _ := g.try(h.clk.now)
				h.p.mu.Unlock()
				if verdict != paused || at.Sub(h.clk.now) < 29*time.Second {
					t.Errorf("try after Retry-After 30 s = %v until %v, want paused about 30 s", verdict, at.Sub(h.clk.now))
				}
				h.p.mu.Lock()
				verdict, _, _ = h.p.group(customeros.EndpointPersonPoll).try(h.clk.now)
				h.p.mu.Unlock()
				if verdict == paused {
					t.Errorf("another family paused too")
				}
			},
		},
		{
			name: "a short Retry-After does not pause",
			drive: func(h *harness) {
				h.run(v, time.Second)
				h.send(v, 429, time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				h.p.mu.Lock()
				defer h.p.mu.Unlock()
				if verdict, _, _ := h.p.group(v).try(h.clk.now); verdict == paused {
					t.Errorf("paused on Retry-After 1 s")
				}
			},
		},
		{
			name:  "five 5xx in a row cut by a quarter",
			drive: func(h *harness) { h.run(v, time.Second) },
			check: func(t *testing.T, h *harness, before float64) {
				for range 5 {
					h.send(v, 503, 0)
				}
				if got := h.p.Limit(v); math.Abs(got-before*failCut) > 0.01 {
					t.Errorf("pace after five 503s = %.2f, want %.2f", got, before*failCut)
				}
				// An outage: the cuts stop at the start pace.
				for range 200 {
					h.send(v, 500, 0)
				}
				if got := h.p.Limit(v); got != DefaultStartRate {
					t.Errorf("pace after 200 500s = %.2f, want the start pace %.2f", got, DefaultStartRate)
				}
			},
		},
		{
			name:  "refused connections do not cut the pace",
			drive: func(h *harness) { h.run(v, time.Second) },
			check: func(t *testing.T, h *harness, before float64) {
				refused := customeros.Outcome{Err: errors.New("dial tcp: connection refused"), Unsent: true}
				// Each attempt waits for its grant (the fake clock moves to
				// it) and is refused at once.
				for range 20 {
					h.answer(v, refused)
				}
				if got := h.p.Limit(v); got != before {
					t.Errorf("pace after 20 refused connections = %.2f, want %.2f", got, before)
				}
				// Written, then failed (a reset): five in a row cut as 5xx do.
				for range 5 {
					h.answer(v, customeros.Outcome{Err: errors.New("read: connection reset")})
				}
				if got := h.p.Limit(v); math.Abs(got-before*failCut) > 0.01 {
					t.Errorf("pace after five resets = %.2f, want %.2f", got, before*failCut)
				}
			},
		},
		{
			name: "Max caps the pace",
			drive: func(h *harness) {
				h.p.Max = 20
				h.run(v, 3*time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				if got := h.p.Limit(v); got != 20 {
					t.Errorf("pace = %.1f, want the cap 20", got)
				}
			},
		},
		{
			name: "concurrency falls with the pace",
			drive: func(h *harness) {
				h.lat = time.Second
				h.run(v, 3*time.Second)
			},
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				high := g.capacity()
				g.rate = 1
				if low := g.capacity(); low >= high || low > 5 {
					t.Errorf("in-flight bound at 1 req/s and 1 s latency = %d (at the higher pace %d), want at most 5", low, high)
				}
			},
		},
		{
			name:  "requests unanswered for long stop holding a place",
			drive: func(h *harness) { h.run(v, time.Second) },
			check: func(t *testing.T, h *harness, _ float64) {
				g := h.group(v)
				h.p.mu.Lock()
				defer h.p.mu.Unlock()
				hung := 0
				for ; hung < 100; hung++ { // sent and never answered
					verdict, at, gen := g.try(h.clk.now)
					if verdict == full {
						break
					}
					if verdict == booked {
						h.clk.now = at
						g.claim(at, gen)
					}
				}
				if hung == 100 {
					t.Fatalf("no bound on the requests in flight")
				}
				verdict, until, _ := g.try(h.clk.now)
				if verdict != full || until.IsZero() {
					t.Fatalf("try with %d unanswered = %v (until %v), want full until a time", hung, verdict, until)
				}
				h.clk.now = until
				if verdict, _, _ := g.try(h.clk.now); verdict == full {
					t.Errorf("still full once the stragglers left the window")
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { // check gets the pace at the end of drive
			h := newHarness(t)
			tc.drive(h)
			tc.check(t, h, h.p.Limit(v))
		})
	}
}

// TestPollsShareThePace checks that polls and bulk job requests are paced
// with the call that made them.
func TestPollsShareThePace(t *testing.T) {
	h := newHarness(t)
	h.run(customeros.EndpointPerson, time.Second)
	if a, b := h.p.Limit(customeros.EndpointPerson), h.p.Limit(customeros.EndpointPersonPoll); a != b {
		t.Errorf("person pace %.1f, person poll pace %.1f: want one pace", a, b)
	}
	h.run(customeros.EndpointBulkStatus, time.Second)
	if a, b := h.p.Limit(customeros.EndpointVerify), h.p.Limit(customeros.EndpointBulkStatus); a != b {
		t.Errorf("verify pace %.1f, bulk status pace %.1f: want one pace", a, b)
	}
	if a, b := h.p.Limit(customeros.EndpointOrganization), h.p.Limit(customeros.EndpointPerson); a == b {
		t.Errorf("organization took person's pace %.1f", a)
	}
}

// TestCoordinatedCut: a 429 in one family cuts another that had its own
// 429 moments ago (they share a bucket), and not one that never had any.
func TestCoordinatedCut(t *testing.T) {
	pe, o := customeros.EndpointPerson, customeros.EndpointOrganization
	h := newHarness(t)
	for _, ep := range []customeros.Endpoint{v, pe, o} {
		h.run(ep, time.Second)
	}
	h.send(pe, 429, 0)
	h.clk.now = h.clk.now.Add(500 * time.Millisecond)
	personBefore, orgBefore := h.p.Limit(pe), h.p.Limit(o)
	h.send(v, 429, 0)
	if got := h.p.Limit(pe); got >= personBefore {
		t.Errorf("person pace %.1f after verify's 429, want under %.1f (coordinated cut)", got, personBefore)
	}
	if got := h.p.Limit(o); got != orgBefore {
		t.Errorf("organization pace %.1f after verify's 429, want %.1f (it never had a 429)", got, orgBefore)
	}
	h.clk.now = h.clk.now.Add(10 * time.Second)
	personBefore = h.p.Limit(pe)
	h.send(v, 429, 0)
	if got := h.p.Limit(pe); got != personBefore {
		t.Errorf("person pace %.1f after verify's 429 10 s after person's own, want %.1f", got, personBefore)
	}
}

// TestCoupledProbe: families that got 429s together share one bucket. A
// family over its own estimate climbs on into the share the others leave
// unused (their callers wait on it, say), without a probe; it neither
// probes nor climbs when the bucket is used to the sum of the estimates.
// A family that asks for nothing (its work ran out) is idle: its share
// no longer counts, and the others probe for it.
func TestCoupledProbe(t *testing.T) {
	pe := customeros.EndpointPerson
	h := newHarness(t)
	h.lat = 2 * time.Millisecond
	for _, ep := range []customeros.Endpoint{v, pe} {
		h.run(ep, time.Second)
	}
	h.send(pe, 429, 0)
	h.send(v, 429, 0)
	gv, gp := h.group(v), h.group(pe)
	if !gv.coupled || !gp.coupled {
		t.Fatalf("429s together did not couple the families")
	}
	if o := h.group(customeros.EndpointOrganization); o.coupled {
		t.Errorf("a family without 429s is coupled")
	}
	start := func() {
		gv.rate, gv.ceiling, gv.ramping = keep*50, 50, false
		gp.rate, gp.ceiling, gp.ramping = keep*50, 50, false
	}
	coupledUse := func() (used, ceilings float64) {
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		return h.p.coupledUse(gv, h.clk.now)
	}
	// Person keeps asking, 10 a second: most of its share unused.
	start()
	for range 80 {
		h.run(v, 100*time.Millisecond)
		h.send(pe, 200, 0)
	}
	if gv.ramping || gv.rate <= probeAt*50 {
		t.Errorf("verify pace %.1f (ramping %v) with most of person's share unused, want a climb past %.1f without a probe", gv.rate, gv.ramping, probeAt*50)
	}
	if used, ceilings := coupledUse(); ceilings != 100 || used < 40 {
		t.Errorf("coupled use %.0f of estimates %.0f, want verify's and person's last second of the sum 100", used, ceilings)
	}
	// Person asks for nothing (its work ran out): it is idle, its share is
	// verify's to probe for.
	start()
	h.run(v, 8*time.Second)
	if !gp.idle(h.clk.now) {
		t.Fatalf("person, silent for 8 s, is not idle")
	}
	h.p.mu.Lock()
	gp.pausedTill = h.clk.now.Add(time.Minute)
	paused := gp.idle(h.clk.now)
	gp.pausedTill = time.Time{}
	gp.inflight++
	waiting := gp.idle(h.clk.now)
	gp.inflight--
	h.p.mu.Unlock()
	if paused || waiting {
		t.Errorf("person idle while paused by a Retry-After (%v) or with a request in flight (%v)", paused, waiting)
	}
	if gv.rate <= probeAt*50 {
		t.Errorf("verify pace %.1f with person idle, want a probe past %.1f", gv.rate, probeAt*50)
	}
	if used, ceilings := coupledUse(); ceilings != 50 || used < 40 {
		t.Errorf("coupled use %.0f of estimates %.0f with person idle, want verify's own (estimate 50)", used, ceilings)
	}
}

// TestWaitWithFakeClock: Wait returns at once when the pace allows, blocks
// on the clock when booked, and gives its booking back when cancelled.
func TestWaitWithFakeClock(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.p.Wait(ctx, v); err != nil {
		t.Fatal(err)
	}
	h.p.Observe(v, customeros.Outcome{Status: 200})
	// The next grant is half a second away at 2 req/s: Wait books it and
	// blocks on the fake clock's timer.
	done := make(chan error, 1)
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- h.p.Wait(cctx, v) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait = %v, want context.Canceled", err)
	}
	if n, _ := h.p.InFlight(v); n != 0 {
		t.Errorf("in flight after a cancelled Wait = %d, want 0", n)
	}
}

// TestLearnedAndRecall: a run remembers a family's limit estimate (after
// 429s) or the most it was accepted in a second (no 429); the next run
// starts from it: just under the estimate, steady and climbing, or (no
// limit met) a slow start from well over the rate reached.
func TestLearnedAndRecall(t *testing.T) {
	pe := customeros.EndpointPerson
	h := newHarness(t)
	h.run(v, 1500*time.Millisecond)
	h.send(v, 429, 0)
	h.run(pe, 2*time.Second)
	est := h.group(v).ceiling
	m := h.p.Learned()
	if got := m[string(v)]; !got.Limited || got.Rate != est {
		t.Errorf("learned for verify %+v, want the estimate %.1f, limited", got, est)
	}
	peak := h.group(pe).peakUsed
	if got := m[string(pe)]; got.Limited || got.Rate != peak || peak < 10 {
		t.Errorf("learned for person %+v, want the peak %.1f accepted in a second, not limited", got, peak)
	}
	if _, ok := m[string(customeros.EndpointOrganization)]; ok {
		t.Errorf("learned a pace for a family that sent nothing")
	}

	next := newHarness(t)
	next.p.Recall(m)
	if got := next.p.Limit(v); math.Abs(got-keep*est) > 1e-9 {
		t.Errorf("recalled verify pace %.2f, want %.2f of %.2f", got, keep, est)
	}
	if g := next.group(v); g.ramping || g.ceiling != est {
		t.Errorf("recalled verify: ramping %v, estimate %.1f; want steady under %.1f", g.ramping, g.ceiling, est)
	}
	next.run(v, 3*time.Second)
	if g := next.group(v); g.rate <= keep*est || g.rate >= probeAt*est {
		t.Errorf("recalled verify pace after 3 s = %.2f, want a climb from %.2f short of the probe", g.rate, keep*est)
	}
	if got, g := next.p.Limit(pe), next.group(pe); got != unlimitedStart*peak || !g.ramping {
		t.Errorf("recalled person pace %.1f (ramping %v), want a slow start from %.0f × %.1f", got, g.ramping, unlimitedStart, peak)
	}
	capped := newHarness(t)
	capped.p.Max = 5
	capped.p.Recall(m)
	if got := capped.p.Limit(pe); got != 5 {
		t.Errorf("recalled pace under Max 5 = %.1f", got)
	}
	bad := newHarness(t)
	bad.p.Recall(map[string]Pace{string(v): {Rate: math.NaN()}, string(pe): {Rate: -1}})
	if got := bad.p.Limit(v); got != DefaultStartRate {
		t.Errorf("pace after recalling NaN = %v, want the start rate", got)
	}
}
