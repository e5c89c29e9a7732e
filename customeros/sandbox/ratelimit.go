package sandbox

import (
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limit scopes (Options.RateScope).
const (
	// RateShared is one token bucket for every API endpoint (the default).
	RateShared = "shared"
	// RateEndpoint is one bucket per endpoint family: verify with the bulk
	// job endpoints, person with its result polls, organization. Each gets
	// RateLimit.
	RateEndpoint = "endpoint"
	// RateKey is one bucket per API key, shared by the key's endpoints.
	RateKey = "key"
)

// RateStep changes the rate limit After the first API request (the burst
// follows unless RateBurst is set).
type RateStep struct {
	After time.Duration
	Limit float64
}

// limits holds the token buckets.
type limits struct {
	scope string
	burst int // fixed burst; 0 = the current limit
	steps []RateStep

	mu      sync.Mutex
	limit   float64
	start   time.Time // first request
	next    int       // index of the next step
	buckets map[string]*rate.Limiter
}

func newLimits(o Options) *limits {
	if o.RateLimit <= 0 {
		return nil
	}
	return &limits{scope: o.RateScope, burst: o.RateBurst, steps: o.RateSchedule, limit: o.RateLimit,
		buckets: map[string]*rate.Limiter{}}
}

func (l *limits) burstFor(r float64) int {
	if l.burst > 0 {
		return l.burst
	}
	return max(1, int(r))
}

// allow takes a token for request r to ep at now; otherwise it returns
// the Retry-After in whole seconds. A nil *limits allows everything.
func (l *limits) allow(now time.Time, ep string, r *http.Request) (ok bool, retryAfter int) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = now
	}
	for l.next < len(l.steps) && now.Sub(l.start) >= l.steps[l.next].After {
		l.limit = l.steps[l.next].Limit
		for _, b := range l.buckets {
			b.SetLimitAt(now, rate.Limit(l.limit))
			b.SetBurstAt(now, l.burstFor(l.limit))
		}
		l.next++
	}
	name := ""
	switch l.scope {
	case RateEndpoint:
		name = family(ep)
	case RateKey:
		name = r.Header.Get("X-CUSTOMER-OS-API-KEY")
	}
	b := l.buckets[name]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.limit), l.burstFor(l.limit))
		b.SetLimitAt(now, rate.Limit(l.limit)) // the bucket starts full at now
		l.buckets[name] = b
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, max(1, int(math.Ceil(1/l.limit)))
}

// family names the bucket of ep under RateEndpoint.
func family(ep string) string {
	switch ep {
	case EpBulkSubmit, EpBulkStatus, EpBulkDownload:
		return EpVerify
	case EpPersonPoll:
		return EpPerson
	}
	return ep
}
