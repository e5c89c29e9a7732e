package main

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// TestStatusWhileStarting: `batch status` on the state of a first run
// that holds the lock but has not recorded its job yet (it waits for its
// stdin) says the job is starting and which PID holds the lock, instead
// of a usage error; once the input arrives the run finishes as usual.
func TestStatusWhileStarting(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 20, 0, 0, 4)
	state := filepath.Join(dir, "state")
	cmd := batchCmd(t, em.URL, "run", "-i", "-", "-o", filepath.Join(dir, "out.csv"), "--state", state, "--verify", "--no-cache", "--progress", "none")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
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
	// The run takes the state's lock, then waits for its input (to
	// fingerprint it), so the job is not recorded yet.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, held, _ := lockHolder(filepath.Join(state, "LOCK")); held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not take its state's lock\n%s", errb.String())
		}
	}

	r := runBatch(t, em.URL, "status", "--state", state)
	if r.code != 0 || !strings.Contains(r.stdout, "starting (pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("status while the first run starts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBatch(t, em.URL, "status", "--state", state, "--json")
	var v struct {
		Job     string `json:"job"`
		Running *struct {
			PID   int       `json:"pid"`
			Since time.Time `json:"since"`
		} `json:"running"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("status --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if v.Job != "starting" || v.Running == nil || v.Running.PID != cmd.Process.Pid {
		t.Errorf("status --json while starting: %s", r.stdout)
	}

	if _, err := stdin.Write(readFile(t, in)); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if code := exitStatus(t, cmd.Wait()); code != 0 {
		t.Fatalf("the run: exit %d\n%s", code, errb.String())
	}
	r = runBatch(t, em.URL, "status", "--state", state, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Job != "finished" {
		t.Errorf("status after the run: %v\n%s%s", err, r.stdout, r.stderr)
	}
}
