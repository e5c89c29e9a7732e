package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// echoingAPI serves the emulator, but answers some verify requests with
// errors whose messages name the address, as real services do: the first
// request of every 11th row gets a 500 (retried, then answered), every
// 13th row a 400 (refused), every 41st row 503s until its retries are
// spent (retryable error); with all set, every request gets a 500.
type echoingAPI struct {
	em  *emulator
	all atomic.Bool

	mu   sync.Mutex
	seen map[string]int
}

func (a *echoingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("address")
	if addr == "" || !strings.HasPrefix(r.URL.Path, "/verify/") {
		a.em.ServeHTTP(w, r)
		return
	}
	a.mu.Lock()
	a.seen[addr]++
	nth := a.seen[addr]
	a.mu.Unlock()
	var n, p int
	fmt.Sscanf(addr, "user%d.p%d@", &n, &p)
	status := 0
	switch {
	case a.all.Load():
		status = http.StatusInternalServerError
	case n%13 == 0:
		status = http.StatusBadRequest
	case n%41 == 0:
		status = http.StatusServiceUnavailable
	case n%11 == 0 && nth == 1:
		status = http.StatusInternalServerError
	}
	if status == 0 {
		a.em.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"status":"error","message":"could not verify %s (%s)","error":"%s"}`, addr, strings.ToUpper(addr), addr)
}

// Finding 17 (personal data): at the default log level no stderr line, in
// text or JSON logs, carries an address from the input, through retries,
// refusals, retryable errors, rejected rows, and an outage stop whose
// cause is an error message echoing the address.
func TestStderrCarriesNoAddress(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 240, 7, 10, 97)
	var addrs []string
	for i, line := range strings.Split(string(readFile(t, in)), "\n") {
		if f := strings.Split(line, ","); i > 0 && len(f) > 1 && f[1] != "" {
			addrs = append(addrs, strings.ToLower(strings.TrimSpace(f[1])))
		}
	}
	opts := sandbox.DefaultOptions()
	opts.RateLimit = 40 // some 429s too
	em := startEmulator(t, opts)
	api := &echoingAPI{em: em, seen: map[string]int{}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	leaks := func(what, stderr string) {
		t.Helper()
		low := strings.ToLower(stderr)
		n := 0
		for _, a := range addrs {
			if strings.Contains(low, a) {
				if n++; n <= 3 {
					t.Errorf("%s: stderr carries %q", what, a)
				}
			}
		}
		if n > 0 {
			t.Logf("%s: %d addresses on stderr:\n%s", what, n, stderr)
		}
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			api.all.Store(false)
			out := filepath.Join(dir, format+".csv")
			args := []string{"--log-format", format, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "log"}
			r := runBatch(t, srv.URL, args...)
			if r.code != ExitRetryable {
				t.Fatalf("exit %d, want %d (the 503 rows)\n%s", r.code, ExitRetryable, r.stderr)
			}
			if _, err := os.Stat(out + ".state/report.json"); err != nil {
				t.Fatal(err)
			}
			leaks("finished with errors", r.stderr)

			api.all.Store(true)
			r = runBatch(t, srv.URL, append(args[:len(args):len(args)], "--restart")...)
			if r.code != ExitResumable {
				t.Fatalf("every call failing: exit %d, want %d\n%s", r.code, ExitResumable, r.stderr)
			}
			leaks("outage stop", r.stderr)
		})
	}
}
