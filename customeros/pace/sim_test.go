package pace

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// The simulation runs a Pacer against token buckets in simulated time: no
// goroutine, no sleep, the same result for a seed on any machine. Workers
// behave as the client does: Wait (through try/claim, the steps Wait takes),
// send, get the answer after the latency, Observe, go again.

// fakeClock is a Clock whose time the test sets. After is never used by
// the simulation (it drives try/claim itself); for Wait it returns a
// channel that fires when the test advances past it.
type fakeClock struct {
	now     time.Time
	waiters []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeTimer{c.now.Add(d), ch})
	return ch
}

// bucket is a token bucket with burst = rate (a second of requests).
type bucket struct {
	rate, tokens float64
	last         time.Time
}

func (b *bucket) allow(now time.Time) bool {
	b.tokens = math.Min(b.rate, b.tokens+b.rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// setRate changes the limit; the burst follows and the tokens are clipped.
func (b *bucket) setRate(now time.Time, r float64) {
	b.allow(now)
	b.tokens++ // allow took one to look; give it back
	b.rate = r
	b.tokens = math.Min(b.tokens, r)
}

// limitStep changes a bucket's rate at a time since the start.
type limitStep struct {
	at   time.Duration
	rate float64
}

// simSpec is one simulated run.
type simSpec struct {
	families []customeros.Endpoint // one per family, each with workers
	workers  int
	latency  time.Duration
	jitter   time.Duration
	shared   bool                            // one bucket for every family
	limits   map[customeros.Endpoint]float64 // per family (or the shared one under families[0])
	steps    []limitStep                     // applied to every bucket
	duration time.Duration
	seed     uint64
	// react delays each Observe after the server's answer (the client's
	// own scheduling on a loaded machine): the pace reacts that much later.
	react time.Duration
	// chained: each row goes through the families in order, as batch's
	// stages do (verify, then person, then organization), so a family
	// has work only for the rows the one before it answered.
	chained bool
	// stopAt ends a family's demand at that time since the start (its
	// workers ask for nothing more), as the organization lookups of a list
	// end when its domains are all looked up.
	stopAt map[customeros.Endpoint]time.Duration
}

// simResult counts answers per family.
type simResult struct {
	ok, throttled, first10 map[customeros.Endpoint]int
	perSecond              map[customeros.Endpoint][][2]int
	pace                   map[customeros.Endpoint][]float64 // the pace at the end of each second
	pacer                  *Pacer
}

func (r simResult) String() string {
	s := ""
	for ep, ok := range r.ok {
		s += fmt.Sprintf("%s: ok %d, 429 %d (first 10 s %d); ", ep, ok, r.throttled[ep], r.first10[ep])
	}
	return s
}

type event struct {
	at     time.Time
	seq    int
	worker int
	kind   int // evReady, evWake, evAnswer
	gen    uint64
}

const (
	evReady = iota
	evWake
	evAnswer
)

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if !e[i].at.Equal(e[j].at) {
		return e[i].at.Before(e[j].at)
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

func simulate(spec simSpec) simResult {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	p := New(0)
	p.Clock = clk
	rng := rand.New(rand.NewPCG(spec.seed, 7))
	buckets := map[customeros.Endpoint]*bucket{}
	bucketOf := func(ep customeros.Endpoint) *bucket {
		if spec.shared {
			ep = spec.families[0]
		}
		b := buckets[ep]
		if b == nil {
			r := spec.limits[ep]
			b = &bucket{rate: r, tokens: r, last: t0}
			buckets[ep] = b
		}
		return b
	}
	res := simResult{ok: map[customeros.Endpoint]int{}, throttled: map[customeros.Endpoint]int{},
		first10: map[customeros.Endpoint]int{}, perSecond: map[customeros.Endpoint][][2]int{},
		pace: map[customeros.Endpoint][]float64{}, pacer: p}
	nsec := int(spec.duration / time.Second)
	for _, ep := range spec.families {
		res.perSecond[ep] = make([][2]int, nsec+1)
		res.pace[ep] = make([]float64, nsec+1)
	}
	type worker struct {
		ep      customeros.Endpoint
		status  int
		stage   int  // index of ep in spec.families
		hasWork bool // holds a row (always, for the first family)
	}
	credit := make([]int, len(spec.families)) // rows waiting for each family
	idle := make([][]int, len(spec.families)) // workers waiting for a row
	var ws []worker
	q := &events{}
	seq := 0
	push := func(at time.Time, w, kind int, gen uint64) {
		seq++
		heap.Push(q, event{at: at, seq: seq, worker: w, kind: kind, gen: gen})
	}
	for i, ep := range spec.families {
		for range spec.workers {
			ws = append(ws, worker{ep: ep, stage: i})
			push(t0, len(ws)-1, evReady, 0)
		}
	}
	parked := map[customeros.Endpoint][]int{}
	stepIdx := 0
	end := t0.Add(spec.duration)
	send := func(w int, now time.Time) {
		lat := spec.latency
		if spec.jitter > 0 {
			lat += time.Duration(rng.Float64() * float64(spec.jitter))
		}
		at := now.Add(lat)
		for stepIdx < len(spec.steps) && !at.Before(t0.Add(spec.steps[stepIdx].at)) {
			st := spec.steps[stepIdx]
			for _, b := range buckets {
				b.setRate(t0.Add(st.at), st.rate)
			}
			for _, ep := range spec.families {
				if !spec.shared || ep == spec.families[0] {
					spec.limits[ep] = st.rate
				}
			}
			stepIdx++
		}
		ws[w].status = 200
		if !bucketOf(ws[w].ep).allow(at) {
			ws[w].status = 429
		}
		push(at.Add(spec.react), w, evAnswer, 0)
	}
	for q.Len() > 0 {
		ev := heap.Pop(q).(event)
		if ev.at.After(end) {
			break
		}
		clk.now = ev.at
		w := &ws[ev.worker]
		g := func() *group { p.mu.Lock(); defer p.mu.Unlock(); return p.group(w.ep) }()
		switch ev.kind {
		case evReady:
			if d, ok := spec.stopAt[w.ep]; ok && !ev.at.Before(t0.Add(d)) {
				continue // this family's demand has ended
			}
			if spec.chained && w.stage > 0 && !w.hasWork {
				if credit[w.stage] == 0 {
					idle[w.stage] = append(idle[w.stage], ev.worker)
					continue
				}
				credit[w.stage]--
				w.hasWork = true
			}
			p.mu.Lock()
			v, at, gen := g.try(ev.at)
			p.mu.Unlock()
			switch v {
			case granted:
				send(ev.worker, ev.at)
			case booked:
				push(at, ev.worker, evWake, gen)
			case paused:
				push(at, ev.worker, evReady, 0)
			case full:
				parked[w.ep] = append(parked[w.ep], ev.worker) // no hangs here: an answer comes
			}
		case evWake:
			p.mu.Lock()
			ok := g.claim(ev.at, ev.gen)
			p.mu.Unlock()
			if ok {
				send(ev.worker, ev.at)
			} else {
				push(ev.at, ev.worker, evReady, 0)
			}
		case evAnswer:
			o := customeros.Outcome{Status: w.status}
			if w.status == 429 {
				o.RetryAfter = time.Second
			}
			p.Observe(w.ep, o)
			sec := int(ev.at.Sub(t0) / time.Second)
			res.pace[w.ep][sec] = g.rate
			if w.status == 200 && spec.chained {
				w.hasWork = false
				if next := w.stage + 1; next < len(spec.families) {
					credit[next]++
					if n := len(idle[next]); n > 0 {
						push(ev.at, idle[next][n-1], evReady, 0)
						idle[next] = idle[next][:n-1]
					}
				}
			}
			if w.status == 200 {
				res.ok[w.ep]++
				res.perSecond[w.ep][sec][0]++
			} else {
				res.throttled[w.ep]++
				res.perSecond[w.ep][sec][1]++
				if sec < 10 {
					res.first10[w.ep]++
				}
			}
			push(ev.at, ev.worker, evReady, 0)
			for _, pw := range parked[w.ep] {
				push(ev.at, pw, evReady, 0)
			}
			parked[w.ep] = nil
		}
		// A booked waiter whose booking was voided wakes at once in Wait;
		// here it finds out at its wake time, which only delays it.
	}
	return res
}
