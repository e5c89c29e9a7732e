package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// startWorking starts the binary and returns once the emulator has seen
// its first API call (so it holds its locks), killing it at cleanup.
func startWorking(t *testing.T, em *emulator, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	before := em.Counters().Total
	cmd := batchCmd(t, em.URL, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	for deadline := time.Now().Add(20 * time.Second); em.Counters().Total == before; {
		if time.Now().After(deadline) {
			t.Fatalf("the first process made no call\n%s", errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cmd, &errb
}

// slowEmulator answers every call after 30 ms, so a run of a few thousand
// rows with one worker outlasts any test step.
func slowEmulator(t *testing.T) *emulator {
	opts := sandbox.DefaultOptions()
	opts.Latency = 30 * time.Millisecond
	return startEmulator(t, opts)
}

// Finding 17.3: deleting LOCK while a run goes on must not let a second
// run write the same ledger.
func TestStateLockSurvivesDeletedLockFile(t *testing.T) {
	em := slowEmulator(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 3000, 0, 0, 31)
	out := filepath.Join(dir, "out.csv")
	state := filepath.Join(dir, "state")
	args := []string{"run", "-i", in, "-o", out, "--state", state, "--verify", "--no-cache", "--progress", "none", "--workers", "1"}
	startWorking(t, em, args...)
	if err := os.Remove(filepath.Join(state, "LOCK")); err != nil {
		t.Fatal(err)
	}
	r := runBatch(t, em.URL, args...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "in use by another batch process") {
		t.Fatalf("second run after deleting LOCK: exit %d, want %d with a lock message\n%s", r.code, ExitUsage, r.stderr)
	}
}

// Finding 17.4: two jobs with one --output and different --state must not
// mix their rows in one file; the output belongs to the unfinished job.
func TestOutputLockedToItsJob(t *testing.T) {
	em := slowEmulator(t)
	dir := t.TempDir()
	inA, inB := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	contactsCSV(t, inA, 3000, 0, 0, 32)
	contactsCSV(t, inB, 40, 0, 0, 33)
	out := filepath.Join(dir, "out.csv")
	common := []string{"-o", out, "--verify", "--no-cache", "--progress", "none"}
	argsA := append([]string{"run", "-i", inA, "--state", filepath.Join(dir, "sa"), "--workers", "1"}, common...)
	argsB := append([]string{"run", "-i", inB, "--state", filepath.Join(dir, "sb")}, common...)

	holder, errb := startWorking(t, em, argsA...)
	r := runBatch(t, em.URL, argsB...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "being written by another batch process") {
		t.Fatalf("second job while the first runs: exit %d, want %d\n%s", r.code, ExitUsage, r.stderr)
	}
	holder.Process.Signal(os.Interrupt)
	if code := exitStatus(t, holder.Wait()); code != ExitResumable {
		t.Fatalf("first job after SIGINT: exit %d, want %d\n%s", code, ExitResumable, errb.String())
	}
	r = runBatch(t, em.URL, argsB...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "belongs to another unfinished job") {
		t.Fatalf("second job while the first is stopped: exit %d, want %d\n%s", r.code, ExitUsage, r.stderr)
	}
	if _, err := os.Stat(out + ".partial"); err != nil {
		t.Fatalf("the stopped job's partial output: %v", err)
	}
	// Once the first job finished, the output is free again.
	fast := startEmulator(t, sandbox.DefaultOptions())
	mustRun(t, fast.URL, argsA...)
	if got := lineCount(t, out); got != 3001 {
		t.Fatalf("first job's output: %d lines, want 3001", got)
	}
	mustRun(t, fast.URL, argsB...)
	if got := lineCount(t, out); got != 41 {
		t.Fatalf("second job's output: %d lines, want 41", got)
	}
	if _, err := os.Stat(out + ".lock"); err == nil {
		t.Error("the lock file outlived the finished job")
	}
}
