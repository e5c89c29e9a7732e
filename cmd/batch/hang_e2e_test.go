package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// hangingAPI serves the emulator, except that the first verify request of
// each address hang(address) picks hangs until the client gives up or the
// test releases it.
type hangingAPI struct {
	em      *emulator
	hang    func(address string) bool
	release chan struct{}
	once    sync.Once

	hung, abandoned, answered atomic.Int64
	mu                        sync.Mutex
	seen                      map[string]int
	hungAddrs                 []string
}

func newHangingAPI(t *testing.T, em *emulator, hang func(string) bool) (*hangingAPI, string) {
	h := &hangingAPI{em: em, hang: hang, release: make(chan struct{}), seen: map[string]int{}}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Release(); srv.Close() })
	return h, srv.URL
}

// Release lets the requests still hanging go on to the emulator.
func (h *hangingAPI) Release() { h.once.Do(func() { close(h.release) }) }

func (h *hangingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if addr := r.URL.Query().Get("address"); addr != "" && strings.HasPrefix(r.URL.Path, "/verify/") {
		h.mu.Lock()
		h.seen[addr]++
		first := h.seen[addr] == 1
		h.mu.Unlock()
		if first && h.hang(addr) {
			h.mu.Lock()
			h.hungAddrs = append(h.hungAddrs, addr)
			h.mu.Unlock()
			h.hung.Add(1)
			select {
			case <-r.Context().Done():
				h.abandoned.Add(1)
				return
			case <-h.release:
				h.answered.Add(1)
			}
		}
	}
	h.em.ServeHTTP(w, r)
}

// requests returns how many verify requests address got.
func (h *hangingAPI) requests(addr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[addr]
}

// Finding 17.7 (hangs): with a long --attempt-timeout, a few requests that
// hang after the API has shown it answers fast are abandoned by the hang
// detector and retried, so the run finishes without waiting them out. The
// hung requests are only released by a watchdog far beyond the detector's
// timeout (2 s here): the test asserts that each was abandoned before it,
// not how long the run took.
func TestHungRequestsAbandoned(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 300, 0, 0, 91)
	em := startEmulator(t, sandbox.DefaultOptions())
	const hangs = 10
	api, url := newHangingAPI(t, em, func(addr string) bool {
		var n, p int
		// Rows 100, 120, …, 280: after the detector has its 50 answers.
		if _, err := fmt.Sscanf(addr, "user%d.p%d@", &n, &p); err == nil && n >= 100 && n%20 == 0 {
			return true
		}
		return false
	})
	watchdog := time.AfterFunc(3*time.Minute, api.Release)
	defer watchdog.Stop()
	out := filepath.Join(dir, "out.csv")
	mustRun(t, url, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none",
		"--attempt-timeout", "10m")
	if h, a, ans := api.hung.Load(), api.abandoned.Load(), api.answered.Load(); h != hangs || a != h || ans != 0 {
		t.Errorf("%d requests hung, %d abandoned by the client, %d answered after the watchdog; want %d, all abandoned",
			h, a, ans, hangs)
	}
	for _, addr := range api.hungAddrs {
		if n := api.requests(addr); n != 2 {
			t.Errorf("%s: %d requests, want 2 (the hung one and its retry)", addr, n)
		}
	}
	if got := em.requests(sandbox.EpVerify); got != int64(unique) {
		t.Errorf("the emulator answered %d verify calls, want %d (each address once)", got, unique)
	}
	rep := readReport(t, out+".state/report.json")
	if rep.Counters["rows_written"] != 300 || rep.Counters["rows_error"] != 0 {
		t.Errorf("report: %d rows written, %d in error; want 300 and 0", rep.Counters["rows_written"], rep.Counters["rows_error"])
	}
}
