package pace

import (
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// The simulated runs below are deterministic (simulated time, seeded
// jitter), so their bounds hold on any machine; they are looser than the
// bench targets, which `make bench` measures against the real emulator.

func TestSimConverges(t *testing.T) {
	for _, r := range []float64{2, 10, 40, 200, 1000} {
		res := simulate(simSpec{families: []customeros.Endpoint{v}, workers: 32, latency: 10 * time.Millisecond, jitter: 2 * time.Millisecond,
			limits: map[customeros.Endpoint]float64{v: r}, duration: 60 * time.Second, seed: 1})
		ok, th := res.ok[v], res.throttled[v]
		achieved, share := float64(ok)/60/r, float64(th)/float64(ok+th)
		t.Logf("R %4.0f: achieved %.3f, 429s %d (%.2f %%), in the first 10 s %d", r, achieved, th, 100*share, res.first10[v])
		if achieved < 0.9 {
			t.Errorf("R %.0f: achieved %.3f of the limit, want ≥ 0.9", r, achieved)
		}
		if (r >= 10 && share > 0.03) || (r < 10 && th > 8) || res.first10[v] > 15 {
			t.Errorf("R %.0f: %d 429s (%.2f %%), %d in the first 10 s: too many", r, th, 100*share, res.first10[v])
		}
	}
}

func TestSimSharedAndSeparateBuckets(t *testing.T) {
	ve, pe, o := customeros.EndpointVerify, customeros.EndpointPerson, customeros.EndpointOrganization
	lim := map[customeros.Endpoint]float64{ve: 200, pe: 40, o: 10}
	for _, shared := range []bool{true, false} {
		limits := map[customeros.Endpoint]float64{}
		for k, x := range lim {
			limits[k] = x
		}
		res := simulate(simSpec{families: []customeros.Endpoint{ve, pe, o}, workers: 16, latency: 10 * time.Millisecond, jitter: 2 * time.Millisecond,
			shared: shared, limits: limits, duration: 60 * time.Second, seed: 1})
		t.Logf("shared %v: %v", shared, res)
		var ok, th int
		for _, ep := range []customeros.Endpoint{ve, pe, o} {
			ok += res.ok[ep]
			th += res.throttled[ep]
			if !shared {
				if a := float64(res.ok[ep]) / 60 / lim[ep]; a < 0.9 {
					t.Errorf("own buckets: %s achieved %.3f of its limit %.0f, want ≥ 0.9", ep, a, lim[ep])
				}
			}
		}
		if share := float64(th) / float64(ok+th); share > 0.03 {
			t.Errorf("shared %v: 429 share %.2f %%, want ≤ 3 %%", shared, 100*share)
		}
		if shared {
			if a := float64(ok) / 60 / lim[ve]; a < 0.9 {
				t.Errorf("shared bucket: achieved %.3f of the limit, want ≥ 0.9", a)
			}
		}
	}
}

func TestSimFollowsAStep(t *testing.T) {
	res := simulate(simSpec{families: []customeros.Endpoint{v}, workers: 32, latency: 10 * time.Millisecond, jitter: 2 * time.Millisecond,
		limits: map[customeros.Endpoint]float64{v: 200}, steps: []limitStep{{20 * time.Second, 20}, {40 * time.Second, 200}},
		duration: 60 * time.Second, seed: 1})
	t.Logf("%v", res)
	ps := res.perSecond[v]
	for s := 23; s < 40; s++ { // down: within 3 s (a probe after an estimate a little low may spend half the bucket's saved tokens)
		if ps[s][0] > 30 || ps[s][1] > 2 {
			t.Errorf("second %d after the step down to 20: %d ok, %d 429s", s, ps[s][0], ps[s][1])
		}
	}
	for s := 45; s < 60; s++ { // up: within 5 s
		if ps[s][0] < 180 {
			t.Errorf("second %d after the step up to 200: %d ok, want ≥ 180", s, ps[s][0])
		}
	}
}
