package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// paidReport is the billing part of report.json.
type paidReport struct {
	Status          string           `json:"status"`
	PaidCallsNow    int64            `json:"paid_calls_this_run"`
	PaidNow         map[string]int64 `json:"paid_this_run"`
	PaidInAll       int64            `json:"paid_calls_in_all"`
	CallsNow        int64            `json:"calls_this_run"`
	HTTPAttempts    map[string]int64 `json:"http_attempts_this_run"`
	TransportErrors int64            `json:"transport_errors_this_run"`
}

func readPaid(t *testing.T, path string) paidReport {
	t.Helper()
	var r paidReport
	if err := json.Unmarshal(readFile(t, path), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// billableSince is the emulator's billable events per endpoint since before.
func billableSince(em *emulator, before map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range em.Counters().Billable {
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// checkPaid compares the run's paid figures with the emulator's billing.
func checkPaid(t *testing.T, rep paidReport, billed map[string]int64) {
	t.Helper()
	t.Logf("paid %v (calls made %d, attempts %v); emulator billed %v", rep.PaidNow, rep.CallsNow, rep.HTTPAttempts, billed)
	if got := nonZero(rep.PaidNow); !maps.Equal(got, billed) {
		t.Errorf("paid this run per endpoint = %v, emulator billed %v", got, billed)
	}
	var sum int64
	for _, v := range billed {
		sum += v
	}
	if rep.PaidCallsNow != sum {
		t.Errorf("paid_calls_this_run = %d, emulator billed %d", rep.PaidCallsNow, sum)
	}
}

// TestPaidIsBilled checks that "paid" in report.json, the summary and
// status is what the emulator billed (CONTRACT §6.5), not what was sent.
func TestPaidIsBilled(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	// Dups, invalid addresses, and the emulator's unknown verdicts,
	// persons without email and unknown organizations all occur here.
	contactsCSV(t, in, 400, 5, 10, 61)

	t.Run("good run, every stage", func(t *testing.T) {
		opts := sandbox.DefaultOptions()
		opts.AsyncFraction = 0.3
		opts.AsyncDelay = 50 * time.Millisecond
		em := startEmulator(t, opts)
		out := filepath.Join(dir, "good.csv")
		r := mustRun(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--enrich-person", "--enrich-org", "--no-cache", "--progress", "none")
		rep := readPaid(t, out+".state/report.json")
		billed := nonZero(em.Counters().Billable)
		checkPaid(t, rep, billed)
		if rep.PaidInAll != rep.PaidCallsNow {
			t.Errorf("paid in all = %d, this run = %d, for a one-run job", rep.PaidInAll, rep.PaidCallsNow)
		}
		if sent := em.requests(sandbox.EpVerify) + em.requests(sandbox.EpPerson) + em.requests(sandbox.EpOrganization); rep.PaidCallsNow >= sent {
			t.Errorf("paid %d of %d calls sent: the input should hold calls that are not billed", rep.PaidCallsNow, sent)
		}
		if want := "billed this run"; !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
		st := mustRun(t, em.URL, "status", "--state", out+".state", "--json")
		var v struct {
			PaidCalls int64 `json:"paid_calls"`
		}
		if err := json.Unmarshal([]byte(st.stdout), &v); err != nil {
			t.Fatal(err)
		}
		if v.PaidCalls != em.billable() {
			t.Errorf("status paid_calls = %d, emulator billed %d", v.PaidCalls, em.billable())
		}
	})

	t.Run("bulk verify", func(t *testing.T) {
		opts := sandbox.DefaultOptions()
		opts.BulkDelay = 20 * time.Millisecond
		em := startEmulator(t, opts)
		out := filepath.Join(dir, "bulk.csv")
		mustRun(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--verify-mode", "bulk", "--no-cache", "--progress", "none")
		checkPaid(t, readPaid(t, out+".state/report.json"), nonZero(em.Counters().Billable))
	})

	t.Run("interrupted and resumed", func(t *testing.T) {
		opts := sandbox.DefaultOptions()
		opts.Latency = 10 * time.Millisecond
		em := startEmulator(t, opts)
		big := filepath.Join(dir, "big.csv")
		contactsCSV(t, big, 3000, 0, 10, 62)
		out := filepath.Join(dir, "stopped.csv")
		args := []string{"run", "-i", big, "-o", out, "--verify", "--enrich-org", "--no-cache", "--progress", "none", "--workers", "4"}
		cmd := batchCmd(t, em.URL, args...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Interrupt once the run has made some calls (counted, not timed).
		for deadline := time.Now().Add(30 * time.Second); em.Counters().Total < 200; {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the run made no calls")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
		if code := exitStatus(t, cmd.Wait()); code != ExitResumable {
			t.Fatalf("after SIGINT: exit %d, want %d\n%s", code, ExitResumable, errb.String())
		}
		rep := readPaid(t, out+".state/report.json")
		first := nonZero(em.Counters().Billable)
		checkPaid(t, rep, first)
		if rep.Status != "stopped" || rep.PaidCallsNow == 0 {
			t.Errorf("stopped run: status %q, paid %d", rep.Status, rep.PaidCallsNow)
		}
		mustRun(t, em.URL, args...)
		rep2 := readPaid(t, out+".state/report.json")
		checkPaid(t, rep2, billableSince(em, first))
		if rep2.PaidInAll != em.billable() {
			t.Errorf("paid in all = %d after the resume, emulator billed %d", rep2.PaidInAll, em.billable())
		}
	})

	t.Run("dead port pays nothing", func(t *testing.T) {
		small := filepath.Join(dir, "small.csv")
		contactsCSV(t, small, 8, 0, 0, 63)
		out := filepath.Join(dir, "dead.csv")
		r := runBatch(t, "http://127.0.0.1:1", "run", "-i", small, "-o", out, "--verify", "--no-cache", "--progress", "none")
		if r.code == ExitUsage || r.code == ExitFailed {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		rep := readPaid(t, out+".state/report.json")
		if rep.PaidCallsNow != 0 || len(nonZero(rep.PaidNow)) != 0 {
			t.Errorf("paid against a dead port = %d %v, want 0", rep.PaidCallsNow, rep.PaidNow)
		}
		if rep.TransportErrors == 0 || rep.HTTPAttempts["verify"] == 0 {
			t.Errorf("attempts %v, transport errors %d: the refused attempts are not reported", rep.HTTPAttempts, rep.TransportErrors)
		}
		if !strings.Contains(r.stderr, "0 billed this run") {
			t.Errorf("summary does not say 0 billed:\n%s", r.stderr)
		}
	})
}
