package customeros

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/contactbatch/batch/internal/defaults"
)

// Hang detector defaults (see Client.HangFactor).
const (
	// DefaultHangFactor multiplies an endpoint's p99 latency.
	DefaultHangFactor = 4
	// DefaultHangFloor is the shortest hang timeout.
	DefaultHangFloor = 2 * time.Second
	// DefaultHangSamples is how many complete 2xx answers an endpoint needs
	// before its latency is trusted.
	DefaultHangSamples = 50
	// hangWindow is how many of an endpoint's latest answers the p99 is
	// taken over.
	hangWindow = 256
	// hangRecompute: the timeout is recomputed after this many new samples
	// (a sort of hangWindow values, not one per attempt).
	hangRecompute = 16
)

// ErrHung marks an attempt abandoned by the hang detector: it had no
// complete answer long after the endpoint's usual latency. It is
// retryable, like any timeout.
var ErrHung = errors.New("customeros: no answer within the hang timeout")

// latencies is one endpoint's recent answer latencies and the hang timeout
// derived from them. It is safe for concurrent use.
type latencies struct {
	mu      sync.Mutex
	ring    [hangWindow]time.Duration
	n       int // samples ever added
	pending int // samples since timeout was computed
	p99     time.Duration
}

// add records one complete answer's latency.
func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.n%hangWindow] = d
	l.n++
	if l.pending++; l.pending >= hangRecompute || l.p99 == 0 {
		l.pending = 0
		s := slices.Clone(l.ring[:min(l.n, hangWindow)])
		slices.Sort(s)
		// The nearest-rank p99: the smallest sample with at least 99 % of
		// the samples at or below it.
		l.p99 = s[(len(s)*99+99)/100-1]
	}
}

// timeout is the hang timeout for the endpoint: max(floor, factor × p99),
// at most limit; limit itself while fewer than samples answers were seen.
func (l *latencies) timeout(factor float64, floor time.Duration, samples int, limit time.Duration) time.Duration {
	l.mu.Lock()
	n, p99 := l.n, l.p99
	l.mu.Unlock()
	if n < samples || factor <= 0 {
		return limit
	}
	return min(max(floor, time.Duration(factor*float64(p99))), limit)
}

// attemptLimit is how long one attempt of cl may take: the endpoint's hang
// timeout, except for the last attempt of a call, which gets the whole
// AttemptTimeout (a lookup that is only slow still gets its answer), and
// for non-idempotent uploads and downloads, whose time depends on their
// size or whose repeat is paid twice.
func (c *Client) attemptLimit(cl *call, attempt, maxAttempts int) (limit time.Duration, hang bool) {
	full := defaults.Or(c.AttemptTimeout, DefaultAttemptTimeout)
	ep := endpointIndex(cl.ep)
	if attempt >= maxAttempts || cl.unsafe || cl.download || c.HangFactor < 0 || ep < 0 || ep >= numEndpoints {
		return full, false
	}
	d := c.lat[ep].timeout(defaults.Or(c.HangFactor, DefaultHangFactor), defaults.Or(c.HangFloor, DefaultHangFloor),
		defaults.Or(c.HangSamples, DefaultHangSamples), full)
	return d, d < full
}

// HangTimeout returns the hang timeout currently used for ep's attempts
// (AttemptTimeout until the endpoint has enough answers).
func (c *Client) HangTimeout(ep Endpoint) time.Duration {
	d, _ := c.attemptLimit(&call{ep: ep}, 1, 2)
	return d
}

// observeLatency records an attempt's latency if it brought a complete
// answer worth learning from (a 2xx).
func (c *Client) observeLatency(cl *call, status int, d time.Duration) {
	ep := endpointIndex(cl.ep)
	if status < 200 || status >= 300 || cl.download || ep < 0 || ep >= numEndpoints {
		return
	}
	c.lat[ep].add(d)
}
