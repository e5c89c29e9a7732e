package pace

import (
	"math"
	"sort"
	"time"
)

// group is one endpoint family's pace. Every method runs under Pacer.mu.
type group struct {
	rate    float64 // pace, requests per second
	ramping bool    // slow start: no estimate of the limit yet, or probing a raised one
	// ceiling is the estimate of the limit from the last cut; 0 = none.
	ceiling float64
	// high is the highest estimate of the last dropMemory, held from
	// highSince to highAt (the last cut near it): a limit that fell from a
	// level held for a while may come back to it (see growth).
	high              float64
	highSince, highAt time.Time

	// The gate: next is the earliest time of the next grant, last the
	// latest grant; gen counts voided reservations and voided is closed
	// (and replaced) when they are voided.
	next, last time.Time
	gen        uint64
	voided     chan struct{}
	pausedTill time.Time

	lastRaise time.Time
	grants    int // requests sent since lastRaise
	// cut is the time of the last cut; cutEmpty reports that the server's
	// bucket was empty then (a 429), so the answers accepted since then
	// (accepted - cutAccepted) over the time since measure its rate.
	cut         time.Time
	cutEmpty    bool
	cutOwn      bool // the last cut followed a 429 of this family's own
	cutAccepted int64
	// holdFrom and holdAccepted: where acceptedCeiling counts from (the
	// last cut, or a later moment once the pace was held long).
	holdFrom     time.Time
	holdAccepted int64
	accepted     int64
	own429       time.Time // the last 429 this family got
	fails        int       // 5xx or transport errors in a row

	// ramp records the slow start (since it began, at most rampPoints):
	// when the pace rose, the answers accepted by then and the pace
	// before, for the first 429's estimate (see burstEstimate).
	ramp []rampPoint
	// peers is the requests in flight of the other families in a slow
	// start, set by raise.
	peers float64
	// coupled: the family has had a coordinated cut, so it shares the
	// server's bucket with the other coupled families.
	coupled     bool
	coupledWith int // the coupled families, this one included, set by raise

	// slots count accepted answers per 100 ms over the last second.
	slots    [10]int
	slotTime time.Time
	peakUsed float64 // the most answers accepted in a second

	// inflight counts requests between Wait (reserved or sent) and
	// Observe; starts holds the send times of those sent, oldest first
	// (paired with answers in order, which keeps the mean latency exact).
	inflight    int
	asked       time.Time // the last time a caller asked to send (see idle)
	starts      []time.Time
	lat         float64 // mean latency in seconds (EWMA); 0 = no answer yet
	slotWaiters int
	freed       chan struct{}
}

// rampPoint is one rise of the pace during a slow start.
type rampPoint struct {
	at       time.Time
	accepted int64   // answers accepted by at
	before   float64 // the pace before at
}

// rampPoints bounds the slow start's record: enough for a ramp from 0.1
// to far beyond any limit.
const rampPoints = 64

// startRamp begins a slow start's record at now.
func (g *group) startRamp(now time.Time) {
	g.ramp = append(g.ramp[:0], rampPoint{at: now, accepted: g.accepted})
}

// noteRamp records a rise of the pace from before at now.
func (g *group) noteRamp(now time.Time, before float64) {
	if len(g.ramp) == 0 {
		return
	}
	if len(g.ramp) == rampPoints {
		copy(g.ramp, g.ramp[1:])
		g.ramp = g.ramp[:rampPoints-1]
	}
	g.ramp = append(g.ramp, rampPoint{at: now, accepted: g.accepted, before: before})
}

// burstEstimate estimates the limit at the first 429 of a slow start (0:
// none). The server's bucket was full while the pace stayed under the
// limit, and is empty now; taking its burst to be a second of the limit
// (what token buckets are commonly given), the answers accepted since the
// pace passed the limit at t are the limit times (1 s + now - t). The
// estimate is the latest rise t for which that holds with the pace before
// t at or under the estimate.
func (g *group) burstEstimate(now time.Time) float64 {
	for i := len(g.ramp) - 1; i >= 0; i-- {
		pt := g.ramp[i]
		d := 1 + now.Sub(pt.at).Seconds()
		n := float64(g.accepted - pt.accepted)
		// The bucket held less than a token at the 429: the limit is under
		// (n+1)/d, and over n/d less what the last token's wait hides.
		// Taking the upper bound errs on the side that the next 429, a
		// moment later and at an empty bucket, corrects exactly.
		if r := (n + 1) / d; pt.before <= r && n >= 2 {
			return r
		}
	}
	return 0
}

// capacity bounds the requests in flight: three times the pace times the
// latency, plus two.
func (g *group) capacity() int {
	return int(math.Ceil(3*g.rate*g.lat)) + 2
}

// busy counts the requests that hold a place under capacity at now: the
// booked ones and those sent in the last straggle window (four mean
// latencies, at least a second) that are still unanswered. A request that
// takes longer than that (a hang, a slow verify) stops holding a place,
// so a few stragglers never stall the family. It also returns when the
// oldest of those leaves the window.
func (g *group) busy(now time.Time) (n int, until time.Time) {
	window := max(time.Second, time.Duration(4*g.lat*float64(time.Second)))
	from := now.Add(-window)
	i := sort.Search(len(g.starts), func(i int) bool { return g.starts[i].After(from) })
	booked := g.inflight - len(g.starts)
	if i < len(g.starts) {
		until = g.starts[i].Add(window)
	}
	return booked + len(g.starts) - i, until
}

// idle reports whether g's callers have asked for nothing lately (for a
// second, or four of its intervals if longer) and none of its requests is
// in flight or paused: a family whose work has run out (a list's domains
// all looked up, say) leaves its share of a shared bucket to the others,
// which then probe for it. A family waiting on slow answers or on a
// server's Retry-After is not idle.
func (g *group) idle(now time.Time) bool {
	return g.inflight == 0 && !now.Before(g.pausedTill) && now.Sub(g.asked) > max(idleAfter, 4*g.interval())
}

// interval is the time between grants.
func (g *group) interval() time.Duration {
	return time.Duration(float64(time.Second) / g.rate)
}

// verdict is what try decided.
type verdict int

const (
	granted verdict = iota // send now
	booked                 // send at the returned time, if claim agrees then
	paused                 // the family is paused until the returned time
	full                   // too many requests in flight: wait for an answer, or the returned time (zero: none)
)

// try asks to send at now. A booked request counts as in flight until
// claim refuses it or cancel.
func (g *group) try(now time.Time) (v verdict, at time.Time, gen uint64) {
	g.asked = now
	if now.Before(g.pausedTill) {
		return paused, g.pausedTill, g.gen
	}
	if n, until := g.busy(now); n >= g.capacity() {
		return full, until, g.gen
	}
	at = g.reserve(now)
	g.inflight++
	if !at.After(now) {
		g.sent(now)
		return granted, now, g.gen
	}
	return booked, at, g.gen
}

// claim sends a request booked under gen at now; false when a cut or a
// pause voided the booking (ask again).
func (g *group) claim(now time.Time, gen uint64) bool {
	if gen != g.gen {
		g.cancel()
		return false
	}
	g.sent(now)
	return true
}

// cancel gives up a booking.
func (g *group) cancel() {
	g.inflight--
	g.free()
}

// reserve books the next grant and returns its time.
func (g *group) reserve(now time.Time) time.Time {
	at := g.next
	if at.Before(now.Add(-tolerance)) {
		at = now.Add(-tolerance)
	}
	g.next = at.Add(g.interval())
	if at.Before(now) {
		return now
	}
	return at
}

// sent records a request leaving at now.
func (g *group) sent(now time.Time) {
	if !g.ramping && g.cut.IsZero() {
		g.cut = now // a recalled estimate: the climb counts from the first request
	}
	if g.ramping && len(g.ramp) == 0 && g.accepted == 0 {
		g.startRamp(now) // the first request: the slow start begins
	}
	g.last = now
	g.grants++
	g.starts = append(g.starts, now)
}

// done records an answer at now: one request less in flight.
func (g *group) done(now time.Time) {
	if g.inflight > 0 {
		g.inflight--
	}
	if len(g.starts) > 0 {
		d := now.Sub(g.starts[0]).Seconds()
		g.starts = g.starts[1:]
		if g.lat == 0 {
			g.lat = d
		} else {
			g.lat += latWeight * (d - g.lat)
		}
	}
	g.free()
}

// free wakes the requests waiting for a slot.
func (g *group) free() {
	if g.slotWaiters > 0 {
		close(g.freed)
		g.freed = make(chan struct{})
	}
}

// void cancels the reservations made at the old pace: their waiters book
// again from the last grant.
func (g *group) void() {
	g.gen++
	close(g.voided)
	g.voided = make(chan struct{})
	g.next = g.last.Add(g.interval())
}

// accept counts one accepted answer.
func (g *group) accept(now time.Time) {
	g.accepted++
	g.roll(now)
	g.slots[now.UnixNano()/int64(100*time.Millisecond)%10]++
	n := 0
	for _, c := range g.slots {
		n += c
	}
	g.peakUsed = max(g.peakUsed, float64(n))
}

// roll clears the slots older than a second.
func (g *group) roll(now time.Time) {
	const slot = int64(100 * time.Millisecond)
	cur, last := now.UnixNano()/slot, g.slotTime.UnixNano()/slot
	if g.slotTime.IsZero() || cur-last >= 10 {
		g.slots = [10]int{}
	} else {
		for s := last + 1; s <= cur; s++ {
			g.slots[s%10] = 0
		}
	}
	g.slotTime = now
}

// used is the accepted rate over the last second.
func (g *group) used(now time.Time) float64 {
	g.roll(now)
	n := 0
	for _, c := range g.slots {
		n += c
	}
	return float64(n)
}

// inShadow reports whether a 429 at now may answer a request sent before
// the last cut: within three mean latencies and 5 ms of it.
func (g *group) inShadow(now time.Time) bool {
	if g.cut.IsZero() {
		return false
	}
	shadow := time.Duration((3*g.lat)*float64(time.Second)) + 5*time.Millisecond
	return now.Sub(g.cut) < shadow
}

// estimate is the accepted rate since the last cut at an empty bucket, or
// 0 when there is none or too few answers to tell (four, or two over a
// second).
func (g *group) estimate(now time.Time) float64 {
	if !g.cutEmpty {
		return 0
	}
	n := g.accepted - g.cutAccepted
	d := now.Sub(g.cut).Seconds()
	if d <= 0 || n < 2 || (n < minSamples && d < quick.Seconds()) {
		return 0
	}
	return float64(n) / d
}

// growth is the current rate of increase of the pace, per second.
func (g *group) growth(now time.Time) float64 {
	if g.ramping {
		// Requests in flight at this pace, and those of the other families
		// in a slow start: they may share the server's bucket, and the
		// excess it hides is theirs together.
		w := g.rate*g.lat + g.peers
		if w <= 0 {
			return maxGrowth
		}
		return math.Min(maxGrowth, inflightK/(w*w))
	}
	// Families that share a bucket climb together: each by its share, so
	// that they touch the limit as often as one family would.
	c := g.climb() * math.Max(1, now.Sub(g.cut).Seconds()) / float64(max(1, g.coupledWith))
	if g.dropped(now) {
		// The limit fell from a level it held: it may come back (another
		// client's burst on the same key ends, a quota window turns).
		// Climbing faster finds that within a couple of seconds, at the
		// cost of touching the lower limit more often meanwhile.
		c *= dropClimb
	}
	return c
}

// overshoot bounds how far above the limit the pace can be at the first
// 429: growing at k per second, a bucket holding a second's worth of
// requests hides an excess of up to sqrt(2k).
func (g *group) overshoot(now time.Time) float64 {
	return math.Sqrt(2 * g.growth(now))
}

// climb is the steady climb's acceleration: gentler at low paces, where
// each touch of the limit is a larger share of the requests.
func (g *group) climb() float64 {
	x := g.rate / climbFull
	return math.Min(maxClimb, math.Max(minClimb, maxClimb*x*x))
}

// cut429 cuts the pace after a 429 at now.
func (g *group) cut429(now time.Time, max float64) {
	est := g.estimate(now)
	var ceiling float64
	ramping := false
	switch {
	case g.ramping && g.burstEstimate(now) > 0:
		// The first 429 of a slow start: the limit from the answers
		// accepted since the pace passed it (a lower bound too, when the
		// last cut's bucket was empty).
		ceiling = math.Min(g.rate, math.Max(est, g.burstEstimate(now)))
	case est > 0:
		ceiling = math.Min(est, g.rate)
		if g.ramping {
			// The estimate is only a lower bound when the bucket filled up
			// meanwhile; so is the pace over the largest excess its growth
			// can have hidden.
			ceiling = math.Min(g.rate, math.Max(est, g.rate/(1+g.overshoot(now))))
		}
	case g.cutOwn && now.Sub(g.cut) < quick:
		ceiling, ramping = g.rate*0.5/keep, true // still over right after a cut
	default:
		// No record of the ramp: the bucket's burst was spent; a second's
		// accepted answers hold a second of the limit plus at most the
		// burst (taken to be a second's worth).
		ceiling, ramping = g.rate/(1+g.overshoot(now)), true
		if u := g.used(now); u >= minSamples && u/2 < ceiling {
			ceiling, ramping = u/2, false
		}
	}
	g.ceiling, g.ramping = ceiling, ramping
	g.noteHigh(now)
	g.ramp = g.ramp[:0] // the bucket is empty now: no burst to estimate from
	g.markCut(now)
	g.cutOwn = true
	g.setRate(now, keep*ceiling, max)
	g.void()
}

// noteHigh records the estimate of a cut at now in the recent high.
func (g *group) noteHigh(now time.Time) {
	switch {
	case now.Sub(g.highAt) > dropMemory: // none, or too old: a new high from now
		g.high, g.highSince, g.highAt = g.ceiling, now, now
	case g.ceiling >= g.high:
		g.high, g.highAt = g.ceiling, now
	case g.ceiling >= 0.9*g.high:
		g.highAt = now // the limit holds near the high
	}
}

// dropped reports that the limit fell to less than half a level it held
// for at least dropHeld, within the last dropMemory.
func (g *group) dropped(now time.Time) bool {
	return g.ceiling > 0 && g.ceiling < 0.5*g.high && g.highAt.Sub(g.highSince) >= dropHeld && now.Sub(g.highAt) <= dropMemory
}

// coordinatedCut cuts the pace after a 429 in another family that shares
// the server's bucket with g: to 97 % of what g was accepted since its last
// cut (its share of the bucket), at most.
func (g *group) coordinatedCut(now time.Time, max float64) {
	share := g.rate
	if est := g.estimate(now); est > 0 {
		share = math.Min(est, g.rate)
	}
	if !g.ramping {
		// Keep the higher estimate: a share that fell because another
		// family was cut (the pipeline couples their demand) is no new
		// limit, and the pace returns to it quickly.
		g.ceiling = math.Max(g.ceiling, share)
	}
	g.markCut(now)
	g.cutOwn = false
	g.setRate(now, keep*share, max)
	g.void()
}

func (g *group) markCut(now time.Time) {
	g.cut, g.cutEmpty, g.cutAccepted = now, true, g.accepted
	g.lastRaise, g.grants = now, 0
}

// raise lets the pace grow after an accepted answer, at most once a step
// (250 ms; once the limit has been met, at least the time of two requests), and only while the
// pace is used: the requests sent in the step came close to it.
func (g *group) raise(now time.Time, p *Pacer) {
	dt := now.Sub(g.lastRaise)
	if g.lastRaise.IsZero() {
		g.lastRaise, g.grants = now, 0
		return
	}
	minStep := step
	if !g.own429.IsZero() {
		minStep = max(step, time.Duration(2*float64(time.Second)/g.rate))
	}
	if dt < minStep {
		return
	}
	usedPace := float64(g.grants)+1 >= 0.8*g.rate*dt.Seconds()
	g.lastRaise, g.grants = now, 0
	if !usedPace {
		return
	}
	r := g.rate
	switch {
	case g.ramping:
		g.peers = 0
		for _, h := range p.groups {
			if h != g && h.ramping {
				g.peers += h.rate * h.lat
			}
		}
		r *= math.Min(2, math.Exp(g.growth(now)*dt.Seconds()))
		g.noteRamp(now, g.rate)
		defer g.void() // bookings at the old pace come too late now
	case g.rate < 0.9*keep*g.ceiling:
		r = math.Min(keep*g.ceiling, r*1.1) // back after a coordinated or 5xx cut
	default:
		g.coupledWith = 0
		if g.coupled {
			for _, h := range p.groups {
				if h.coupled && (h == g || !h.idle(now)) {
					g.coupledWith++
				}
			}
		}
		r *= 1 + g.growth(now)*dt.Seconds()
		if g.ceiling > 0 && r >= probeAt*g.ceiling {
			used, ceilings := p.coupledUse(g, now)
			switch {
			case g.coupled && used < keep*ceilings-(probeAt-1)*g.ceiling:
				// The families sharing the bucket leave part of it unused
				// (their callers wait on this one, say): climb on into it;
				// the next touch of the limit shares it out again.
			case g.acceptedCeiling(now) && used >= keep*ceilings:
				g.ramping = true // over the estimate without a 429: the limit rose
				g.startRamp(now)
			default:
				// Tokens the bucket saved while the callers sent less
				// hide the limit: hold (where a climb into a share the
				// others left unused took it, if that is higher).
				r = math.Max(g.rate, probeAt*g.ceiling)
			}
		}
	}
	g.setRate(now, r, p.Max)
}

// setRate sets the pace, bounded by max (0 = none) and minRate.
func (g *group) setRate(_ time.Time, r, max float64) {
	if max > 0 {
		r = math.Min(r, max)
	}
	g.rate = math.Max(minRate, r)
}

// coupledUse returns the answers accepted in the last second by g and the
// families it shares the server's bucket with (those not idle), and the sum
// of their estimates; for a family that shares it with none, g's own.
func (p *Pacer) coupledUse(g *group, now time.Time) (used, ceilings float64) {
	for _, h := range p.groups {
		if h == g || (g.coupled && h.coupled && !h.idle(now)) {
			used += h.used(now)
			if h.ceiling > 0 {
				ceilings += h.ceiling
			} else {
				ceilings += h.rate
			}
		}
	}
	return used, ceilings
}

// acceptedCeiling reports whether the server accepted at least the pace
// after a cut (99 % of the estimate) of requests since the last cut (at an empty bucket; or
// since the first request after a recalled estimate). Only then is a pace
// over the estimate without a 429 a sign that the limit rose, not of
// tokens the bucket saved while the callers sent less.
func (g *group) acceptedCeiling(now time.Time) bool {
	if g.holdFrom.Before(g.cut) {
		g.holdFrom, g.holdAccepted = g.cut, g.cutAccepted
	}
	d := now.Sub(g.holdFrom).Seconds()
	if d > holdReset.Seconds() {
		// Held this long without a 429: what the callers did not send
		// long ago (a stall) says nothing of the bucket now; count afresh.
		g.holdFrom, g.holdAccepted = now, g.accepted
		return false
	}
	return float64(g.accepted-g.holdAccepted)+1 >= keep*g.ceiling*d
}
