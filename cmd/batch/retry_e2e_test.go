package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// csvColumn returns the named column of a CSV file's rows (header skipped).
func csvColumn(t *testing.T, path, name string) []string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(readFile(t, path))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range recs[0] {
		if h == name {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("%s has no column %q", path, name)
	}
	var out []string
	for _, r := range recs[1:] {
		out = append(out, r[col])
	}
	return out
}

// TestRetryableRowsRetried: a job that finished with rows in error (the
// emulator failed a chosen set of addresses with 503 through every retry)
// exits 4; the same command then retries exactly those rows, pays only for
// them, and leaves an output equal to an uninterrupted good run's (a CSV
// file republished, a SQLite table upserted).
func TestRetryableRowsRetried(t *testing.T) {
	for _, sink := range []string{"csv", "sqlite"} {
		t.Run(sink, func(t *testing.T) { retryableRowsRetried(t, sink) })
	}
}

func retryableRowsRetried(t *testing.T, sink string) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 300, 0, 0, 61)
	emails := csvColumn(t, in, "Email")
	var chosen []string
	for _, i := range []int{7, 60, 140, 199, 250} {
		chosen = append(chosen, emails[i])
	}
	output := func(name string) string {
		if sink == "sqlite" {
			return "sqlite://" + filepath.Join(dir, name+".db")
		}
		return filepath.Join(dir, name+".csv")
	}
	args := func(out string) []string {
		return []string{"run", "-i", in, "-o", out, "--state", filepath.Join(dir, filepath.Base(out)+".state"),
			"--verify", "--no-cache", "--progress", "none", "--workers", "8"}
	}
	ref := startEmulator(t, sandbox.DefaultOptions())
	refOut := output("ref")
	mustRun(t, ref.URL, args(refOut)...)

	em := startEmulator(t, sandbox.DefaultOptions())
	em.FailKeys(503, 1<<30, chosen...)
	out := output("out")
	r := runBatch(t, em.URL, args(out)...)
	if r.code != ExitRetryable {
		t.Fatalf("run with failing keys: exit %d, want %d\n%s", r.code, ExitRetryable, r.stderr)
	}
	if !strings.Contains(r.stderr, "5 rows are retryable (5 error, 0 pending)") || !strings.Contains(r.stderr, "run the same command again") {
		t.Errorf("the summary does not say how many rows are retryable and how to retry them:\n%s", r.stderr)
	}
	if sink == "csv" {
		var failed []string
		for i, st := range csvColumn(t, out, "row_status") {
			if st != "ok" {
				failed = append(failed, emails[i]+"="+st)
			}
		}
		if len(failed) != len(chosen) {
			t.Errorf("rows not ok after the first run: %v, want the %d chosen ones in error", failed, len(chosen))
		}
	}

	em.FailKeys(503, 0, chosen...) // the API answers them again
	before, billed := em.requests(sandbox.EpVerify), em.billable()
	r = mustRun(t, em.URL, args(out)...)
	if !strings.Contains(r.stderr, "5 retryable rows") {
		t.Errorf("the rerun does not say it retries the retryable rows:\n%s", r.stderr)
	}
	if n := em.requests(sandbox.EpVerify) - before; n != int64(len(chosen)) {
		t.Errorf("the rerun made %d verify calls, want %d (the failed rows only)", n, len(chosen))
	}
	rep := readReport(t, filepath.Join(dir, filepath.Base(out)+".state", "report.json"))
	if paid := em.billable() - billed; rep.PaidCallsNow != paid {
		t.Errorf("the rerun reports %d paid calls, the emulator billed %d", rep.PaidCallsNow, paid)
	}
	if rep.Counters["rows_written"] != 300 || rep.Counters["rows_ok"] != 300 {
		t.Errorf("counters after the retry: written %d, ok %d, want 300 and 300", rep.Counters["rows_written"], rep.Counters["rows_ok"])
	}
	if em.repeated() != 0 {
		t.Errorf("repeated billable = %d, want 0", em.repeated())
	}
	// The retry pass knew its row total (the finished job's), so its % is
	// rows done of 300, not the share of bytes read.
	var runs struct {
		Runs []struct {
			RowsTotal int64 `json:"rows_total"`
			Percent   *int  `json:"percent"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, filepath.Base(out)+".state", "report.json")), &runs); err != nil {
		t.Fatal(err)
	}
	if n := len(runs.Runs); n != 2 || runs.Runs[0].RowsTotal != 0 || runs.Runs[1].RowsTotal != 300 || runs.Runs[1].Percent == nil || *runs.Runs[1].Percent != 100 {
		t.Errorf("runs' row totals: %+v; want the first unknown (0) and the retry pass's 300 at 100 %%", runs.Runs)
	}
	if sink == "csv" {
		if !bytes.Equal(readFile(t, out), readFile(t, refOut)) {
			t.Error("the output after the retry differs from an uninterrupted good run's")
		}
	} else if got, want := dumpSQLite(t, out), dumpSQLite(t, refOut); got != want {
		t.Errorf("the table after the retry differs from an uninterrupted good run's:\n%.1500s\nwant:\n%.1500s", got, want)
	}

	// Now every row is final: a rerun does nothing.
	before = em.Counters().Total
	r = mustRun(t, em.URL, args(out)...)
	if !strings.Contains(r.stderr, "nothing to do") || em.Counters().Total != before {
		t.Errorf("a rerun of a job whose rows are all final made %d calls:\n%s", em.Counters().Total-before, r.stderr)
	}
}

// TestPendingRowsCollected: person lookups still running after
// --async-timeout are written pending (exit 4) with their handles kept; the
// same command later polls those handles, pays nothing again and writes the
// answers.
func TestPendingRowsCollected(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 60, 0, 0, 71)
	opts := sandbox.DefaultOptions()
	opts.AsyncFraction = 1
	opts.AsyncDelay = time.Hour // until FinishAsync
	em := startEmulator(t, opts)
	args := func(out string) []string {
		return []string{"run", "-i", in, "-o", out, "--enrich-person", "--no-cache", "--progress", "none", "--async-timeout", "100ms"}
	}
	out := filepath.Join(dir, "out.csv")
	r := runBatch(t, em.URL, args(out)...)
	if r.code != ExitRetryable {
		t.Fatalf("run with unfinished lookups: exit %d, want %d\n%s", r.code, ExitRetryable, r.stderr)
	}
	pending := 0
	for _, st := range csvColumn(t, out, "person_status") {
		if st == "pending" {
			pending++
		}
	}
	if pending == 0 || !strings.Contains(r.stderr, "pending)") {
		t.Fatalf("%d rows pending after the first run\n%s", pending, r.stderr)
	}

	em.FinishAsync()
	lookups, billed := em.requests(sandbox.EpPerson), em.billable()
	mustRun(t, em.URL, args(out)...)
	if n := em.requests(sandbox.EpPerson) - lookups; n != 0 {
		t.Errorf("the rerun made %d new person lookups, want 0 (the kept handles are polled)", n)
	}
	if em.requests(sandbox.EpPersonPoll) == 0 {
		t.Error("the rerun polled no handle")
	}
	if paid := em.billable() - billed; paid != 0 {
		t.Errorf("the rerun was billed %d calls, want 0", paid)
	}
	for i, st := range csvColumn(t, out, "person_status") {
		if st != "ok" {
			t.Errorf("row %d: person_status %q after the rerun, want ok", i, st)
		}
	}

	// The same answers as a run whose lookups finished in time.
	refOpts := opts
	refOpts.AsyncDelay = 0
	ref := startEmulator(t, refOpts)
	refOut := filepath.Join(dir, "ref.csv")
	mustRun(t, ref.URL, args(refOut)...)
	if !bytes.Equal(readFile(t, out), readFile(t, refOut)) {
		t.Error("the output after collecting the pending rows differs from a run whose lookups finished in time")
	}
}
