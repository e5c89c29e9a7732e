package customeros_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// TestPolicyPredicates checks Throttled, Gone and Halts on the errors a
// real client returns from a real server, with the client's own
// MaxRetryAfter deciding whether a 429 may be retried later.
func TestPolicyPredicates(t *testing.T) {
	status, retryAfter := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(`{"status":"error","message":"no"}`))
	}))
	defer srv.Close()
	c := customeros.New(srv.URL, "test-key")
	c.ReturnThrottled = true
	c.MaxAttempts = 1
	c.MaxRetryAfter = 30 * time.Second
	ctx := context.Background()

	for _, tc := range []struct {
		name                   string
		status, retryAfter     int
		throttled, gone, halts bool
	}{
		{"429 within the client's MaxRetryAfter", 429, 20, true, false, true},
		{"429 beyond the client's MaxRetryAfter (within the default)", 429, 60, false, false, true},
		{"429 without Retry-After", 429, 0, true, false, true},
		{"401", 401, 0, false, false, true},
		{"402", 402, 0, false, false, true},
		{"403", 403, 0, false, false, true},
		{"404", 404, 0, false, true, false},
		{"400", 400, 0, false, false, false},
		{"503", 503, 0, false, false, false},
	} {
		status, retryAfter = tc.status, tc.retryAfter
		_, err := c.PollPerson(ctx, srv.URL+"/enrich/v1/person/results/r1")
		var ae *customeros.APIError
		if !errors.As(err, &ae) || ae.Status != tc.status {
			t.Fatalf("%s: err = %v, want an *APIError with status %d", tc.name, err, tc.status)
		}
		if got := customeros.Throttled(err); got != tc.throttled {
			t.Errorf("%s: Throttled = %v, want %v", tc.name, got, tc.throttled)
		}
		if got := customeros.Gone(err); got != tc.gone {
			t.Errorf("%s: Gone = %v, want %v", tc.name, got, tc.gone)
		}
		if got := customeros.Halts(err); got != tc.halts {
			t.Errorf("%s: Halts = %v, want %v", tc.name, got, tc.halts)
		}
	}
	outage := fmt.Errorf("verify: %w", &customeros.OutageError{URL: srv.URL, Endpoint: customeros.EndpointVerify, Failed: 8, Of: 8, Last: errors.New("connection refused")})
	if !customeros.Halts(outage) || customeros.Throttled(outage) || customeros.Gone(outage) {
		t.Errorf("an outage: Halts, and neither Throttled nor Gone, wanted")
	}
	for _, err := range []error{nil, errors.New("other"), context.Canceled} {
		if customeros.Throttled(err) || customeros.Gone(err) || customeros.Halts(err) {
			t.Errorf("predicates of %v: want all false", err)
		}
	}
}
