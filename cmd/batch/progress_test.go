package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
)

type fakeRunner struct{ committed atomic.Int64 }

func (f *fakeRunner) Snapshot() pipeline.Snapshot {
	return pipeline.Snapshot{Committed: f.committed.Load(), Calls: 40, Paid: map[string]int64{"verify": 30}, Parked: 2,
		Counters: map[counter.Name]int64{"cache_hits": 7, "dedupe_hits": 3}}
}

type fakeBytes struct{ done, total int64 }

func (f *fakeBytes) Progress() (int64, int64) { return f.done, f.total }

// TestLogLinesPerTick: off a terminal, each tick logs one structured line
// with %, ETA and job-wide vs this-run counts; the clock is injected.
func TestLogLinesPerTick(t *testing.T) {
	r := &fakeRunner{}
	r.committed.Store(100) // resumed at row 100
	src := &fakeBytes{done: 1000, total: 10000}
	p := newProbe(r, func() customeros.Stats { return customeros.Stats{Throttled: 5} }, src, 100, 0, 500)
	now := p.start
	p.now = func() time.Time { return now }

	pr, pw := io.Pipe()
	log := slog.New(slog.NewJSONHandler(pw, nil))
	tick := make(chan time.Time)
	d := startLogLines(log, p, tick, func() {})
	lines := bufio.NewScanner(pr)
	next := func() map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatal("no log line")
		}
		var m map[string]any
		if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// 10 s later: 900 more rows, 4000 more bytes (half of the input).
	now = now.Add(10 * time.Second)
	r.committed.Store(1000)
	src.done = 5000
	tick <- now
	m := next()
	want := map[string]float64{"percent": 50, "eta_s": 13, "job_rows_done": 1000, "run_rows_done": 900,
		"run_rows_per_s": 90, "run_paid_calls": 30, "run_calls": 40, "run_max_calls": 500, "job_cache_hits": 7,
		"job_duplicates": 3, "run_http_429": 5, "parked_polls": 2, "input_bytes_read": 5000, "input_bytes_total": 10000}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, m[k], v, m)
		}
	}
	if m["msg"] != "progress" || m["state"] != "running" {
		t.Errorf("line %v", m)
	}
	go func() { tick <- now.Add(10 * time.Second) }()
	next()
	d.stop(p.figures())
	pw.Close()
}

// TestLogFormatJSON: with --log-format json every line on stderr is JSON,
// the summary and the exit message included.
func TestLogFormatJSON(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 50, 0, 10, 1)
	out := filepath.Join(dir, "out.csv")
	check := func(r result) []map[string]any {
		t.Helper()
		var recs []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("stderr line is not JSON: %q (%v)\n%s", l, err, r.stderr)
			}
			recs = append(recs, m)
		}
		return recs
	}
	r := runBatch(t, em.URL, "--log-format", "json", "run", "-i", in, "-o", out, "--verify", "--max-calls", "10")
	if r.code != ExitResumable {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var summary map[string]any
	for _, m := range check(r) {
		if m["msg"] == "summary" {
			summary = m
		}
	}
	if summary == nil || summary["status"] != "stopped" || summary["run_calls"] != float64(10) {
		t.Fatalf("summary record %v\n%s", summary, r.stderr)
	}
	r = runBatch(t, em.URL, "--log-format", "json", "run", "-i", in, "--verify")
	if r.code != ExitUsage {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	recs := check(r)
	if len(recs) != 1 || recs[0]["level"] != "ERROR" || !strings.Contains(recs[0]["msg"].(string), "--output") {
		t.Fatalf("usage error records %v", recs)
	}
}
