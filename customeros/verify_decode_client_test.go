package customeros_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// bodiesServer answers the n-th request with bodies[min(n, len-1)].
func bodiesServer(t *testing.T, ctype string, bodies ...string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1) - 1)
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write([]byte(bodies[min(i, len(bodies)-1)]))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestVerifyInvalidJSONRetried: a 2xx JSON body that does not parse is
// retried like a truncated one (the decoder validates in its single pass).
func TestVerifyInvalidJSONRetried(t *testing.T) {
	record := `{"emailAddress":"a@acme.com","deliverable":"true","syntax":{"isValid":true}}`
	good := `{"email":` + record + `,"status":"success"}`
	srv, hits := bodiesServer(t, "application/json", `{"email":{"emailAddress":"a@ac`, good)
	c := customeros.New(srv.URL, key)
	c.InitialBackoff, c.MaxBackoff = time.Millisecond, time.Millisecond
	p := &recordingPacer{}
	c.Pacer = p
	v, err := c.VerifyEmail(context.Background(), "a@acme.com")
	if err != nil || v.Verdict != customeros.Deliverable || string(v.Raw) != record {
		t.Fatalf("got %v %+v (raw %s)", err, v, v.Raw)
	}
	st := c.Stats()
	if hits.Load() != 2 || st.Attempts[customeros.EndpointVerify] != 2 || st.Retries != 1 || st.ByStatus[200] != 2 {
		t.Errorf("hits %d, stats %+v", hits.Load(), st)
	}
	if len(p.statuses) != 2 || p.statuses[0] != 0 || p.statuses[1] != 200 {
		t.Errorf("pacer saw %v, want [0 200]", p.statuses)
	}
}

// TestVerifyUndecodableNotRetried: valid JSON of the wrong shape, or a
// non-JSON body, is a final ErrBadResponse.
func TestVerifyUndecodableNotRetried(t *testing.T) {
	for name, tt := range map[string]struct{ ctype, body string }{
		"wrong type": {"application/json", `{"status":1,"email":"a@acme.com"}`},
		"no record":  {"application/json", `{"requestId":"r"}`},
		"not json":   {"text/plain", `oops`},
	} {
		t.Run(name, func(t *testing.T) {
			srv, hits := bodiesServer(t, tt.ctype, tt.body)
			c := customeros.New(srv.URL, key)
			c.InitialBackoff = time.Millisecond
			_, err := c.VerifyEmail(context.Background(), "a@acme.com")
			var ae *customeros.APIError
			if !errors.As(err, &ae) || !errors.Is(err, customeros.ErrBadResponse) || ae.Retryable || ae.Status != 200 || hits.Load() != 1 {
				t.Fatalf("err = %#v, hits %d", err, hits.Load())
			}
		})
	}
}

// TestVerifyResultsOutliveBuffers: results of earlier calls are unchanged by
// later ones (response buffers are reused).
func TestVerifyResultsOutliveBuffers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := r.URL.Query().Get("address")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","email":"` + addr + `","deliverable":"true","syntax":{"isValid":true}}`))
	}))
	defer srv.Close()
	c := customeros.New(srv.URL, key)
	ctx := context.Background()
	var got []*customeros.Verification
	addrs := []string{"a@acme.com", "bb@acme.com", "c+tag@acme.com", "dddd@acme.com"}
	for _, a := range addrs {
		v, err := c.VerifyEmail(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	for i, v := range got {
		want := `{"status":"success","email":"` + addrs[i] + `","deliverable":"true","syntax":{"isValid":true}}`
		if v.Email != addrs[i] || string(v.Raw) != want {
			t.Errorf("%d: email %q raw %s", i, v.Email, v.Raw)
		}
	}
}
