package customeros_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// TestHungAttemptsAbandoned: once the endpoint's answers are known to be
// fast, an attempt that hangs is abandoned and retried long before the
// attempt timeout (10 minutes here). The hung requests are held by the
// server until the test ends, so every call succeeding means each hang
// was abandoned, not waited out.
func TestHungAttemptsAbandoned(t *testing.T) {
	release := make(chan struct{})
	var hung, abandoned atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := r.URL.Query().Get("address")
		mu.Lock()
		seen[addr]++
		first := seen[addr] == 1
		mu.Unlock()
		if first && len(addr) > 5 && addr[:5] == "hang." {
			hung.Add(1)
			select {
			case <-r.Context().Done():
				abandoned.Add(1)
				return
			case <-release:
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"email":%q,"deliverable":"true","isValidSyntax":true}}`, addr)
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := customeros.New(srv.URL, key)
	c.InitialBackoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	c.AttemptTimeout = 10 * time.Minute
	c.HangFloor = 50 * time.Millisecond
	ctx := context.Background()
	for i := range customeros.DefaultHangSamples {
		if _, err := c.VerifyEmail(ctx, fmt.Sprintf("warm.%d@acme.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	if d := c.HangTimeout(customeros.EndpointVerify); d >= c.AttemptTimeout {
		t.Fatalf("after %d fast answers the hang timeout is %s", customeros.DefaultHangSamples, d)
	}
	const hangs, calls = 5, 20
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		addr := fmt.Sprintf("ok.%d@acme.com", i)
		if i < hangs {
			addr = fmt.Sprintf("hang.%d@acme.com", i)
		}
		wg.Go(func() {
			if _, err := c.VerifyEmail(ctx, addr); err != nil {
				errs <- fmt.Errorf("%s: %w", addr, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The server notices a client giving up asynchronously: wait for it.
	for abandoned.Load() < hangs {
		time.Sleep(time.Millisecond)
	}
	if h := hung.Load(); h != hangs {
		t.Errorf("%d requests hung, want %d", h, hangs)
	}
	// A slow answer on a loaded machine may be abandoned too: at least the
	// hangs were.
	if st := c.Stats(); st.Hung < hangs {
		t.Errorf("Stats.Hung = %d, want >= %d", st.Hung, hangs)
	}
}

// TestHungErrorIsRetryable: an attempt abandoned by the hang detector is a
// transient failure, named as such.
func TestLastAttemptNotCutShort(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("address") == "hang@acme.com" {
			select {
			case <-r.Context().Done():
				return
			case <-release:
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"email":"a@acme.com","deliverable":"true","isValidSyntax":true}}`)
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c := customeros.New(srv.URL, key)
	c.AttemptTimeout = 10 * time.Minute
	c.HangFloor, c.HangSamples = 10*time.Millisecond, 1
	c.MaxAttempts = 1 // the only attempt is the last: it would get the whole timeout
	ctx := context.Background()
	if _, err := c.VerifyEmail(ctx, "a@acme.com"); err != nil {
		t.Fatal(err)
	}
	c.MaxAttempts = 2
	c.InitialBackoff, c.MaxBackoff = time.Millisecond, time.Millisecond
	// Two attempts: the first is abandoned, the second (last) waits; cancel
	// it once the first was counted as hung.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := c.VerifyEmail(cctx, "hang@acme.com"); done <- err }()
	for c.Stats().Hung == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the cancellation (the last attempt is not cut short)", err)
	}
	if st := c.Stats(); st.Hung != 1 || st.Retries != 1 {
		t.Errorf("hung %d retries %d, want 1 and 1", st.Hung, st.Retries)
	}
}
