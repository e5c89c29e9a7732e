package sandbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// The limits below refill one token in 1,000 s, so the statuses do not
// depend on how fast the requests follow one another.
func TestRateScopes(t *testing.T) {
	const (
		verify = "/verify/v1/email?address=valid@acme.com"
		person = "/enrich/v1/person?email=jane.doe@acme.com"
		poll   = "/enrich/v1/person/results/x"
		org    = "/enrich/v1/organization?domain=acme.com"
	)
	type req struct{ path, key string }
	for _, tc := range []struct {
		scope string
		reqs  []req
		want  string
	}{
		{sandbox.RateShared, []req{{verify, "a"}, {person, "a"}, {org, "a"}, {verify, "b"}}, "[200 200 429 429]"},
		{"", []req{{verify, "a"}, {person, "a"}, {org, "a"}}, "[200 200 429]"},
		// Per endpoint family: person's polls count with person.
		{sandbox.RateEndpoint, []req{{verify, "a"}, {verify, "a"}, {verify, "a"}, {person, "a"}, {org, "a"}, {org, "a"}, {person, "a"}, {poll, "a"}}, "[200 200 429 200 200 200 200 429]"},
		{sandbox.RateKey, []req{{verify, "a"}, {org, "a"}, {person, "a"}, {verify, "b"}, {verify, "b"}, {verify, "b"}}, "[200 200 429 200 200 429]"},
	} {
		_, base := start(t, sandbox.Options{RateLimit: 0.001, RateBurst: 2, RateScope: tc.scope})
		var got []int
		for _, r := range tc.reqs {
			st, _, _ := get(t, base, r.path, r.key)
			got = append(got, st)
		}
		if fmt.Sprint(got) != tc.want {
			t.Errorf("scope %q: statuses %v, want %s", tc.scope, got, tc.want)
		}
	}
}

func TestRateSchedule(t *testing.T) {
	// The first step applies from the first request (burst 1 at limit 1,
	// refilled only after a second); the second never comes in a test.
	_, base := start(t, sandbox.Options{RateLimit: 1000, RateSchedule: []sandbox.RateStep{
		{After: 0, Limit: 0.001}, {After: time.Hour, Limit: 1000}}})
	var got []int
	for range 3 {
		st, _, h := get(t, base, "/verify/v1/email?address=valid@acme.com", "k")
		got = append(got, st)
		if st == 429 && h.Get("Retry-After") != "1000" {
			t.Errorf("Retry-After = %q, want 1000 (a token every 1,000 s)", h.Get("Retry-After"))
		}
	}
	if fmt.Sprint(got) != "[200 429 429]" {
		t.Errorf("statuses %v, want [200 429 429]", got)
	}
}
