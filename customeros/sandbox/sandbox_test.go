package sandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/google/go-cmp/cmp"
)

func get(t *testing.T, base, path, key string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if key != "" {
		req.Header.Set("X-CUSTOMER-OS-API-KEY", key)
	}
	// No keep-alive: net/http would resend a GET on a reused connection
	// that was reset, an extra request whose timing is not reproducible.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "READ ERROR: " + err.Error(), resp.Header
	}
	return resp.StatusCode, string(b), resp.Header
}

func start(t *testing.T, o sandbox.Options) (*sandbox.Server, string) {
	t.Helper()
	s := sandbox.New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv.URL
}

func TestAuthBodies(t *testing.T) {
	_, base := start(t, sandbox.Options{APIKey: "good"})
	for _, tt := range []struct{ key, body string }{
		{"", `{"errors":[{"message":"Api key is required"}]}`},
		{"bad", `{"errors":[{"message”":"Invalid api key"}]}`},
	} {
		st, body, _ := get(t, base, "/verify/v1/email?address=a@b.com", tt.key)
		if st != 401 || body != tt.body {
			t.Errorf("key %q: %d %s", tt.key, st, body)
		}
	}
	if st, _, _ := get(t, base, "/verify/v1/email?address=a@b.com", "good"); st != 200 {
		t.Errorf("good key: %d", st)
	}
}

func TestShapes(t *testing.T) {
	for _, tt := range []struct {
		shape, path string
		status      int
		want        []string // substrings
	}{
		{"current", "/verify/v1/email?address=valid@acme.com", 200, []string{`"email":{`, `"requestId":"api_`, `"emailAddress":"valid@acme.com"`}},
		{"legacy", "/verify/v1/email?address=valid@acme.com", 200, []string{`"email":"valid@acme.com"`, `"deliverable":"true"`}},
		{"current", "/verify/v1/email?address=bad", 200, []string{`"deliverable":""`, `"isValid":false`}},
		{"current", "/verify/v1/email", 400, []string{`"message":"Missing parameter: adderss"`, `"error":"Bad Request"`}},
		{"legacy", "/verify/v1/email", 400, []string{`"message":"Missing address parameter"`}},
		{"current", "/enrich/v1/person?email=nobody@acme.com", 404, []string{`"status":"warning"`, `"Person not found"`}},
		{"legacy", "/enrich/v1/person?email=nobody@acme.com", 200, []string{`"status":"warning"`}},
		{"current", "/enrich/v1/organization?domain=unknown.com", 404, []string{`"Organization not found"`}},
		{"legacy", "/enrich/v1/organizaiton?domain=unknown.com", 200, []string{`"status":"warning"`}},
		{"current", "/enrich/v1/person/results/nope", 404, []string{`"Resource not found"`}},
		{"current", "/nowhere", 404, []string{"404 page not found"}},
	} {
		_, base := start(t, sandbox.Options{Shape: tt.shape})
		st, body, _ := get(t, base, tt.path, "k")
		if st != tt.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tt.shape, tt.path, st, tt.status, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s: body %s lacks %s", tt.shape, tt.path, body, w)
			}
		}
		if tt.shape == "legacy" && strings.Contains(body, "requestId") {
			t.Errorf("legacy body has requestId: %s", body)
		}
	}
}

func TestResultURLUsesRequestHost(t *testing.T) {
	_, base := start(t, sandbox.Options{AsyncFraction: 1})
	st, body, _ := get(t, base, "/enrich/v1/person?email=jane.doe@acme.com", "k")
	var r struct {
		ResultURL string `json:"resultUrl"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	if st != 202 || !strings.HasPrefix(r.ResultURL, base+"/enrich/v1/person/results/") {
		t.Fatalf("%d %s", st, body)
	}
}

// run sends the same request set with some concurrency and returns the
// per-endpoint status counts.
func run(t *testing.T, o sandbox.Options, workers int) sandbox.Counters {
	s, base := start(t, o)
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				addr := url.QueryEscape(fmt.Sprintf("u%d@acme.com", i%40))
				get(t, base, "/verify/v1/email?address="+addr, "k")
			}
		}()
	}
	for i := range 200 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	// The server counts a request after its handler returns, which can be
	// after the client has read the answer: wait for the last ones.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := s.Counters()
		if c.Sent("verify") >= 200 || time.Now().After(deadline) {
			return c
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFaultsReproducibleUnderConcurrency(t *testing.T) {
	o := sandbox.Options{Fail500: 0.1, Fail502: 0.1, Fail503: 0.1, Reset: 0.1, Truncate: 0.1, Seed: 42}
	a := run(t, o, 1)
	b := run(t, o, 8)
	if diff := cmp.Diff(a.Requests, b.Requests); diff != "" {
		t.Errorf("outcomes depend on concurrency (-serial +parallel):\n%s", diff)
	}
	if diff := cmp.Diff(a.Faults, b.Faults); diff != "" {
		t.Errorf("faults differ:\n%s", diff)
	}
	if a.Faults["reset"] == 0 || a.Faults["truncate"] == 0 || a.Faults["500"] == 0 || a.UniqueKeys["verify"] != 40 {
		t.Errorf("counters = %+v", a)
	}
	o.Seed = 43
	if c := run(t, o, 4); cmp.Equal(a.Faults, c.Faults) {
		t.Errorf("another seed gave the same faults %v", c.Faults)
	}
}

func TestTruncatedBody(t *testing.T) {
	_, base := start(t, sandbox.Options{Truncate: 1})
	_, body, _ := get(t, base, "/verify/v1/email?address=valid@acme.com", "k")
	if !strings.HasPrefix(body, "READ ERROR") {
		t.Errorf("body = %s", body)
	}
}

func TestRateLimit(t *testing.T) {
	s, base := start(t, sandbox.Options{RateLimit: 1, RateBurst: 2})
	var statuses []int
	for range 4 {
		st, _, h := get(t, base, "/verify/v1/email?address=valid@acme.com", "k")
		statuses = append(statuses, st)
		if st == 429 && h.Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q", h.Get("Retry-After"))
		}
	}
	if fmt.Sprint(statuses) != "[200 200 429 429]" || s.Counters().Faults["429"] != 2 {
		t.Errorf("statuses %v, counters %+v", statuses, s.Counters())
	}
}

func TestCountersEndpointAndReset(t *testing.T) {
	_, base := start(t, sandbox.Options{})
	get(t, base, "/verify/v1/email?address=valid@acme.com", "k")
	get(t, base, "/verify/v1/email?address=valid@acme.com", "k")
	get(t, base, "/enrich/v1/organization?domain=acme.com", "k")
	_, body, _ := get(t, base, "/_sandbox/counters", "")
	var c sandbox.Counters
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	want := sandbox.Counters{Total: 3, PeakConcurrent: 1,
		Requests:         map[string]map[int]int64{"verify": {200: 2}, "organization": {200: 1}},
		Billable:         map[string]int64{"verify": 2, "organization": 1},
		RepeatedBillable: map[string]int64{"verify": 1},
		UniqueKeys:       map[string]int64{"verify": 1, "organization": 1},
		Faults:           map[string]int64{}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	resp, err := http.Post(base+"/_sandbox/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, body, _ = get(t, base, "/_sandbox/counters", "")
	if !strings.Contains(body, `"total":0`) {
		t.Errorf("after reset: %s", body)
	}
}

func TestPeakConcurrency(t *testing.T) {
	s, base := start(t, sandbox.Options{Hang: 1})
	// Hung requests are held until Close; start 3 and release them.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, base, fmt.Sprintf("/verify/v1/email?address=h%d@acme.com", i), "k")
		}()
	}
	for i := 0; s.Counters().PeakConcurrent < 3; i++ {
		if i == 10000 {
			t.Fatalf("peak concurrency stuck at %d", s.Counters().PeakConcurrent)
		}
		get(t, base, "/_sandbox/counters", "") // a round trip lets the hung requests arrive
	}
	s.Close()
	wg.Wait()
}

// TestRuntimeFaults: SetDown drops connections until the API is back;
// FailKeys answers a key's next requests with a status; neither is billed.
func TestRuntimeFaults(t *testing.T) {
	s, base := start(t, sandbox.Options{})
	const addr = "/verify/v1/email?address=jane@acme.com"
	post := func(path, body string) int {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("/_sandbox/down", ""); st != 200 {
		t.Fatalf("down: %d", st)
	}
	if st, body, _ := get(t, base, addr, "k"); st != 0 {
		t.Errorf("while down: %d %s, want no answer", st, body)
	}
	if st := post("/_sandbox/up", ""); st != 200 {
		t.Fatalf("up: %d", st)
	}
	if st, _, _ := get(t, base, addr, "k"); st != 200 {
		t.Errorf("after up: %d", st)
	}

	if st := post("/_sandbox/fail-keys", `{"status": 503, "times": 2, "keys": ["JANE@acme.com", "x.com"]}`); st != 200 {
		t.Fatalf("fail-keys: %d", st)
	}
	if st := post("/_sandbox/fail-keys", `{"status": 200, "times": 2, "keys": ["a"]}`); st != 400 {
		t.Errorf("fail-keys with status 200: %d, want 400", st)
	}
	var got []int
	for range 3 {
		st, _, _ := get(t, base, addr, "k")
		got = append(got, st)
	}
	if st, _, _ := get(t, base, "/enrich/v1/organization?domain=x.com", "k"); st != 503 {
		t.Errorf("organization for a failing domain: %d, want 503", st)
	}
	if st, _, _ := get(t, base, "/verify/v1/email?address=other@acme.com", "k"); st != 200 {
		t.Errorf("another key: %d, want 200", st)
	}
	s.FailKeys(503, 5, "x.com")
	s.FailKeys(503, 0, "x.com")
	if st, _, _ := get(t, base, "/enrich/v1/organization?domain=x.com", "k"); st == 503 {
		t.Errorf("organization after its fault was removed: %d", st)
	}
	if diff := cmp.Diff([]int{503, 503, 200}, got); diff != "" {
		t.Errorf("statuses of a failing key (-want +got):\n%s", diff)
	}
	c := s.Counters()
	if c.Faults["down"] != 1 || c.Faults["key_503"] != 3 {
		t.Errorf("faults = %v, want down 1, key_503 3", c.Faults)
	}
	if c.Requests[sandbox.EpVerify][0] != 1 {
		t.Errorf("verify requests without an answer = %d, want 1", c.Requests[sandbox.EpVerify][0])
	}
	// Two successful verifications (one after up, one at the end of the
	// failures) plus the other address, and the organization once its fault
	// was removed: none billed for faults.
	if c.Billable[sandbox.EpVerify] != 3 || c.Billable[sandbox.EpOrganization] != 1 {
		t.Errorf("billable = %v, want verify 3, organization 1", c.Billable)
	}
}

// TestFinishAsync completes async person lookups and bulk jobs on demand,
// long before their delays.
func TestFinishAsync(t *testing.T) {
	s, base := start(t, sandbox.Options{AsyncFraction: 1, AsyncDelay: time.Hour, BulkDelay: time.Hour})
	st, body, _ := get(t, base, "/enrich/v1/person?email=jane.doe@acme.com", "k")
	if st != 202 {
		t.Fatalf("person: %d %s, want 202", st, body)
	}
	var p struct {
		ResultURL string `json:"resultUrl"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.ResultURL)
	if st, _, _ := get(t, base, u.Path, "k"); st != 202 {
		t.Fatalf("poll before FinishAsync: %d, want 202", st)
	}
	s.FinishAsync()
	if st, body, _ := get(t, base, u.Path, "k"); st != 200 || !strings.Contains(body, `"isComplete":true`) {
		t.Fatalf("poll after FinishAsync: %d %s, want a complete answer", st, body)
	}
	// A lookup started after FinishAsync waits its delay again.
	st, body, _ = get(t, base, "/enrich/v1/person?email=john.smith@globex.com", "k")
	if err := json.Unmarshal([]byte(body), &p); err != nil || st != 202 {
		t.Fatalf("second person: %d %s", st, body)
	}
	u, _ = url.Parse(p.ResultURL)
	if st, _, _ := get(t, base, u.Path, "k"); st != 202 {
		t.Errorf("poll of a later lookup: %d, want 202", st)
	}
}
