package customeros

import (
	"testing"
	"time"
)

// TestHangTimeoutFromLatency: the hang timeout is the whole attempt timeout
// until an endpoint has enough answers, then max(floor, factor × p99),
// capped by the attempt timeout; the last attempt of a call, bulk uploads
// and downloads always get the whole attempt timeout.
func TestHangTimeoutFromLatency(t *testing.T) {
	c := New("http://127.0.0.1:1", "k")
	c.AttemptTimeout = time.Minute
	verify := &call{ep: EndpointVerify}
	limit := func(cl *call, attempt int) time.Duration {
		d, _ := c.attemptLimit(cl, attempt, 4)
		return d
	}
	for i := range DefaultHangSamples - 1 {
		c.observeLatency(verify, 200, time.Duration(i%10+1)*10*time.Millisecond)
	}
	if got := limit(verify, 1); got != time.Minute {
		t.Fatalf("%d samples: timeout %s, want the attempt timeout", DefaultHangSamples-1, got)
	}
	c.observeLatency(verify, 200, 100*time.Millisecond)
	if got := limit(verify, 1); got != DefaultHangFloor { // 4 × 100 ms is under the floor
		t.Errorf("fast answers: timeout %s, want the floor %s", got, DefaultHangFloor)
	}
	// Answers that are not 2xx teach nothing.
	for range 500 {
		c.observeLatency(verify, 503, time.Hour)
	}
	if got := limit(verify, 1); got != DefaultHangFloor {
		t.Errorf("after 503s: timeout %s, want the floor", got)
	}
	// A slow tail in the window: 3 answers in 256 at 5 s put the p99 at 5 s.
	for i := range hangWindow {
		d := 100 * time.Millisecond
		if i%100 == 0 {
			d = 5 * time.Second
		}
		c.observeLatency(verify, 200, d)
	}
	if got := limit(verify, 1); got != 20*time.Second {
		t.Errorf("p99 5 s: timeout %s, want 20 s", got)
	}
	for _, tc := range []struct {
		name string
		cl   *call
		try  int
	}{
		{"last attempt", verify, 4},
		{"bulk upload", &call{ep: EndpointVerify, unsafe: true}, 1},
		{"download", &call{ep: EndpointVerify, download: true}, 1},
		{"another endpoint", &call{ep: EndpointPerson}, 1},
	} {
		if got := limit(tc.cl, tc.try); got != time.Minute {
			t.Errorf("%s: timeout %s, want the attempt timeout", tc.name, got)
		}
	}
	c.AttemptTimeout = 10 * time.Second
	if got := limit(verify, 1); got != 10*time.Second {
		t.Errorf("capped: timeout %s, want the attempt timeout 10 s", got)
	}
	c.HangFactor = -1
	c.AttemptTimeout = time.Minute
	if got := limit(verify, 1); got != time.Minute {
		t.Errorf("detector off: timeout %s, want the attempt timeout", got)
	}
}
