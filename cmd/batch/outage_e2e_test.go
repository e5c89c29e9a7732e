package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// TestOutageFromTheStart: with nothing listening at the API URL the run
// stops resumably (exit 3) with one line naming the URL and the cause,
// makes no row final and keeps its state; the same command against the
// API once it answers finishes with the output of a run that never met the
// outage.
func TestOutageFromTheStart(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 400, 0, 0, 81)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--enrich-org", "--no-cache", "--progress", "none"}

	const dead = "http://127.0.0.1:1"
	r := runBatch(t, dead, args...)
	if r.code != ExitResumable {
		t.Fatalf("API down: exit %d, want %d\n%s", r.code, ExitResumable, r.stderr)
	}
	want := "batch: stopped: API unreachable at " + dead + ": connection refused"
	if n := strings.Count(r.stderr, want); n != 1 || !strings.Contains(r.stderr, "rerun the same command when it is back") {
		t.Errorf("stderr has %d lines with %q and the rerun hint, want 1:\n%s", n, want, r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a run stopped by an outage published its output")
	}
	rep := readReport(t, out+".state/report.json")
	if rep.Status != "stopped" || rep.RowsCommitted != 0 || rep.Counters["rows_written"] != 0 {
		t.Errorf("report after the outage: status %q, %d rows committed, counters %v; want stopped and none", rep.Status, rep.RowsCommitted, rep.Counters)
	}

	em := startEmulator(t, sandbox.DefaultOptions())
	mustRun(t, em.URL, args...)
	ref := startEmulator(t, sandbox.DefaultOptions())
	refOut := filepath.Join(dir, "ref.csv")
	mustRun(t, ref.URL, "run", "-i", in, "-o", refOut, "--verify", "--enrich-org", "--no-cache", "--progress", "none")
	if !bytes.Equal(readFile(t, out), readFile(t, refOut)) {
		t.Error("the output after the outage differs from a run that never met it")
	}
	if n := em.requests(sandbox.EpVerify); n != int64(unique) {
		t.Errorf("verify calls once the API is back = %d, want %d", n, unique)
	}
}

// TestOutageMidRun takes the API down while a run is going: the run stops
// resumably (exit 3) without writing a row as failed; once the API is back
// the same command finishes with the output of an uninterrupted run, and
// nothing is billed twice beyond the calls in flight when it went down.
func TestOutageMidRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 3000, 0, 0, 83)
	const workers = 16
	args := func(out string) []string {
		return []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none",
			"--workers", "16"}
	}
	opts := sandbox.DefaultOptions()
	opts.Latency = 5 * time.Millisecond
	ref := startEmulator(t, opts)
	refOut := filepath.Join(dir, "ref.csv")
	mustRun(t, ref.URL, args(refOut)...)

	em := startEmulator(t, opts)
	out := filepath.Join(dir, "out.csv")
	cmd := batchCmd(t, em.URL, args(out)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Down once a sixth of the addresses were billed.
	for deadline := time.Now().Add(time.Minute); em.billable() < int64(unique/6); {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("only %d billed after a minute", em.billable())
		}
		time.Sleep(2 * time.Millisecond)
	}
	em.SetDown(true)
	code := exitStatus(t, cmd.Wait())
	if code != ExitResumable {
		t.Fatalf("API down mid-run: exit %d, want %d\n%s", code, ExitResumable, errb.String())
	}
	if !strings.Contains(errb.String(), "API unreachable at "+em.URL) {
		t.Errorf("no outage cause on stderr:\n%s", errb.String())
	}
	rep := readReport(t, out+".state/report.json")
	if rep.Counters["rows_error"] != 0 || rep.Counters["rows_written"] == 0 || rep.Counters["rows_written"] >= 3000 {
		t.Errorf("after the outage: %d rows written, %d in error; want some written and none in error",
			rep.Counters["rows_written"], rep.Counters["rows_error"])
	}

	em.SetDown(false)
	mustRun(t, em.URL, args(out)...)
	if !bytes.Equal(readFile(t, out), readFile(t, refOut)) {
		t.Error("the output after the outage and the rerun differs from an uninterrupted run's")
	}
	if rep := em.repeated(); rep > workers {
		t.Errorf("repeated billable calls = %d, want <= %d (the calls in flight)", rep, workers)
	}
	if got := em.billable(); got != ref.billable() {
		t.Errorf("billed %d in all, an uninterrupted run %d", got, ref.billable())
	}
}
