package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// breakingAPI serves the emulator; while broken is set every 2xx answer is
// cut in half after the emulator answered it (so it is billed, and lost),
// as a failing proxy would.
type breakingAPI struct {
	em     *emulator
	broken atomic.Bool
	cut    atomic.Int64
}

func (b *breakingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !b.broken.Load() || strings.HasPrefix(r.URL.Path, "/_sandbox") {
		b.em.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	b.em.ServeHTTP(rec, r)
	if rec.Code < 200 || rec.Code >= 300 {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	b.cut.Add(1)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler) // drop the connection mid-body
}

// Finding 17.7 (broken bodies): when every answer comes cut short, the run
// stops resumably (exit 3) with one cause line after a bounded number of
// paid calls (the breaker's 8 broken answers, plus the calls in flight),
// makes no row final, and once the API answers properly the same command
// finishes with the output of a run that never met the fault.
func TestBrokenBodiesStopTheRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 200, 0, 0, 93)
	const workers = 4
	args := func(out string) []string {
		return []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none",
			"--workers", strconv.Itoa(workers)}
	}
	em := startEmulator(t, sandbox.DefaultOptions())
	api := &breakingAPI{em: em}
	api.broken.Store(true)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	out := filepath.Join(dir, "out.csv")

	r := runBatch(t, srv.URL, args(out)...)
	if r.code != ExitResumable {
		t.Fatalf("every body cut short: exit %d, want %d\n%s", r.code, ExitResumable, r.stderr)
	}
	want := "batch: stopped: API failing at " + srv.URL + ": its answers are cut short or unreadable (8 verify answers in a row)"
	if n := strings.Count(r.stderr, want); n != 1 {
		t.Errorf("stderr has %d lines with %q, want 1:\n%s", n, want, r.stderr)
	}
	// The breaker opens at the 8th broken answer; each worker may have one
	// more attempt in flight.
	if paid := em.billable(); paid > 8+workers {
		t.Errorf("%d calls billed (answers lost) before the stop, want <= %d", paid, 8+workers)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a run stopped by broken answers published its output")
	}
	rep := readReport(t, out+".state/report.json")
	if rep.Status != "stopped" || rep.RowsCommitted != 0 || rep.Counters["rows_written"] != 0 {
		t.Errorf("report after the stop: status %q, %d rows committed, counters %v; want stopped and none",
			rep.Status, rep.RowsCommitted, rep.Counters)
	}

	api.broken.Store(false)
	before := em.requests(sandbox.EpVerify)
	mustRun(t, srv.URL, args(out)...)
	ref := startEmulator(t, sandbox.DefaultOptions())
	refOut := filepath.Join(dir, "ref.csv")
	mustRun(t, ref.URL, args(refOut)...)
	if !bytes.Equal(readFile(t, out), readFile(t, refOut)) {
		t.Error("the output after the recovery differs from a run that never met the fault")
	}
	if n := em.requests(sandbox.EpVerify) - before; n != int64(unique) {
		t.Errorf("verify calls once the API recovered = %d, want %d", n, unique)
	}
}
