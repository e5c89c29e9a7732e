package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// Finding 17.6: plain http off loopback is refused before anything is
// dialled. A proxy on loopback stands in for the network: the binary would
// send a non-loopback request through it (HTTP_PROXY), so no request there
// proves that nothing was dialled, without any connection leaving loopback.
func TestPlainHTTPOffLoopbackRefused(t *testing.T) {
	var proxied atomic.Int64
	var host atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		host.Store(r.URL.Host)
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
	}))
	defer proxy.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 1, 0, 0, 34)
	offLoopback := "http://203.0.113.7:8080" // TEST-NET-3: never routed
	run := func(extra ...string) result {
		args := append([]string{"run", "-i", in, "-o", filepath.Join(dir, "out.csv"), "--verify", "--no-cache", "--progress", "none"}, extra...)
		cmd := batchCmd(t, offLoopback, args...)
		cmd.Env = append(cmd.Env, "HTTP_PROXY="+proxy.URL, "HTTPS_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "https_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		return result{exitStatus(t, cmd.Run()), out.String(), errb.String()}
	}
	r := run()
	if r.code != ExitUsage || !strings.Contains(r.stderr, "cleartext") {
		t.Fatalf("http off loopback: exit %d, want %d with a cleartext message\n%s", r.code, ExitUsage, r.stderr)
	}
	if n := proxied.Load(); n != 0 {
		t.Fatalf("the refused URL was dialled: %d requests", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.csv.state")); err == nil {
		t.Error("a refused run left a state directory")
	}
	r = run("--insecure-http", "--max-calls", "1")
	if !strings.Contains(r.stderr, "warning: --insecure-http") {
		t.Fatalf("--insecure-http printed no warning (exit %d)\n%s", r.code, r.stderr)
	}
	if proxied.Load() == 0 || host.Load() != "203.0.113.7:8080" {
		t.Fatalf("--insecure-http: proxied %d requests (host %v), want the run to go ahead", proxied.Load(), host.Load())
	}
}

// echoServer answers like the emulator but echoes the key back: a 400 whose
// message holds the key's 12-byte prefix and its lower-cased copy for the
// addresses of ids ending in 7, and an extra field holding the upper-cased
// key in every JSON answer.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	sb := sandbox.New(sandbox.DefaultOptions())
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-CUSTOMER-OS-API-KEY")
		if addr := r.URL.Query().Get("address"); strings.Contains(addr, "7.p") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","message":"address refused for key %s (%s)"}`, key[:12], strings.ToLower(key))
			return
		}
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if bytes.HasPrefix(body, []byte("{")) {
			body = append([]byte(`{"echo":"`+strings.ToUpper(key)+`",`), body[1:]...)
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(func() { sb.Close(); ts.Close() })
	return ts
}

// Finding 17.9 (secrets): a server echoing the key, in any case or in part,
// must not get any 8-byte piece of it into an output cell, a log line, an
// error or a state file.
func TestEchoedKeyIsRedacted(t *testing.T) {
	const canary = "CANARY_7f3a9c2e51b84d06a1e2f3c4d5b6a798"
	ts := echoServer(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 60, 0, 0, 35)
	var logs []string
	for _, out := range []string{"out.csv", "out.jsonl"} {
		cmd := batchCmd(t, ts.URL, "run", "-i", in, "-o", filepath.Join(dir, out), "--verify",
			"--cache", filepath.Join(dir, "cache.db"), "--log-format", "json", "--progress", "log")
		cmd.Env = append(cmd.Env, "CUSTOMEROS_API_KEY="+canary)
		b, err := cmd.CombinedOutput()
		if code := exitStatus(t, err); code == ExitFailed {
			t.Fatalf("%s: exit %d\n%s", out, code, b)
		}
		logs = append(logs, string(b))
	}
	if !strings.Contains(string(readFile(t, filepath.Join(dir, "out.csv"))), "address refused for key [redacted]") {
		t.Fatalf("no row carries the echoed (redacted) error; the test does not test anything:\n%s", readFile(t, filepath.Join(dir, "out.csv")))
	}
	leaks := func(what, text string) {
		low := strings.ToLower(text)
		lk := strings.ToLower(canary)
		for i := 0; i+8 <= len(lk); i++ {
			if strings.Contains(low, lk[i:i+8]) {
				t.Errorf("%s holds %q, a piece of the key", what, canary[i:i+8])
				return
			}
		}
	}
	for _, l := range logs {
		leaks("stderr", l)
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		leaks(path, string(readFile(t, path)))
		return nil
	})
}

// Finding 17.5: the cache answers only runs that would get the same answer
// from the API: same base URL, same tenant (API key), same options.
func TestCacheScopedToURLKeyAndOptions(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 40, 0, 0, 36)
	cache := filepath.Join(dir, "cache.db")
	n := 0
	run := func(em *emulator, key string, extra ...string) {
		t.Helper()
		n++
		args := append([]string{"run", "-i", in, "-o", filepath.Join(dir, fmt.Sprintf("out%d.csv", n)), "--cache", cache, "--progress", "none"}, extra...)
		cmd := batchCmd(t, em.URL, args...)
		cmd.Env = append(cmd.Env, "CUSTOMEROS_API_KEY="+key)
		if b, err := cmd.CombinedOutput(); exitStatus(t, err) != ExitOK {
			t.Fatalf("run %d: %v\n%s", n, err, b)
		}
	}
	first := startEmulator(t, sandbox.DefaultOptions())
	run(first, "key-one", "--verify", "--enrich-person")
	run(first, "key-one", "--verify", "--enrich-person")
	if got := first.requests(sandbox.EpVerify); got != int64(unique) {
		t.Fatalf("same URL, key and options: %d verify calls over two runs, want %d (the second from the cache)", got, unique)
	}
	run(first, "key-one", "--enrich-person", "--include-mobile")
	if got := first.requests(sandbox.EpPerson); got < int64(2*unique) {
		t.Errorf("--include-mobile was served answers cached without it: %d person calls, want %d", got, 2*unique)
	}
	run(first, "key-two", "--verify")
	if got := first.requests(sandbox.EpVerify); got != int64(2*unique) {
		t.Errorf("another API key was served the first key's answers: %d verify calls, want %d", got, 2*unique)
	}
	other := startEmulator(t, sandbox.DefaultOptions())
	run(other, "key-one", "--verify")
	if got := other.requests(sandbox.EpVerify); got != int64(unique) {
		t.Errorf("a run against another URL was served the first URL's answers: %d verify calls there, want %d", got, unique)
	}
}

// Finding 17.9 (umask): outputs are created 0600 whatever the umask, or
// with exactly --output-mode.
func TestOutputMode(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 5, 0, 0, 37)
	for _, tc := range []struct {
		out   string
		extra []string
		want  os.FileMode
	}{
		{"default.csv", nil, 0o600},
		{"default.jsonl", nil, 0o600},
		{"shared.csv", []string{"--output-mode", "0640"}, 0o640},
	} {
		out := filepath.Join(dir, tc.out)
		mustRun(t, em.URL, append([]string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none"}, tc.extra...)...)
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.out, got, tc.want)
		}
	}
	r := runBatch(t, em.URL, "run", "-i", in, "-o", filepath.Join(dir, "bad.csv"), "--verify", "--no-cache", "--output-mode", "644x")
	if r.code != ExitUsage {
		t.Errorf("--output-mode 644x: exit %d, want %d\n%s", r.code, ExitUsage, r.stderr)
	}
}

// Finding 17.9 (early SIGTERM): a signal that arrives while the run is
// still opening its state and input is a resumable stop (exit 3), not a
// failure. main cancels the context on SIGTERM; here it is cancelled from
// the start, the earliest a signal can land once it is handled.
func TestSignalBeforeRunStartsIsResumable(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 5, 0, 0, 38)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("signal terminated"))
	var stdout, stderr bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		switch k {
		case "CUSTOMEROS_API_KEY":
			return "test-key"
		case "CUSTOMEROS_API_URL":
			return em.URL
		}
		return ""
	}}
	code := m.Run(ctx, []string{"run", "-i", in, "-o", filepath.Join(dir, "out.csv"), "--verify", "--no-cache", "--progress", "none"})
	if code != ExitResumable {
		t.Fatalf("exit %d, want %d\n%s", code, ExitResumable, stderr.String())
	}
}

// Finding 17.9 (truncated 404): a "not found" answer cut short is retried,
// not taken as the end of the lookup: the first answer for every domain
// is a 404 whose body stops halfway.
func TestTruncated404IsRetried(t *testing.T) {
	sb := sandbox.New(sandbox.DefaultOptions())
	var mu sync.Mutex
	seen := map[string]bool{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.RawQuery
		mu.Lock()
		first := !seen[q] && strings.HasPrefix(r.URL.Path, "/enrich/")
		seen[q] = true
		mu.Unlock()
		if first {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "200")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"status":"warning","mess`))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { sb.Close(); ts.Close() })
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 20, 0, 0, 39)
	out := filepath.Join(dir, "out.csv")
	r := runBatch(t, ts.URL, "run", "-i", in, "-o", out, "--enrich-org", "--no-cache", "--progress", "none")
	if r.code != ExitOK {
		t.Fatalf("exit %d, want %d (every truncated 404 retried)\n%s", r.code, ExitOK, r.stderr)
	}
	if b := readFile(t, out); bytes.Contains(b, []byte(",error,")) {
		t.Fatalf("a row ended as error:\n%s", b)
	}
}

// Finding 17.7: the per-attempt timeout is a flag: with 10 % of requests
// hanging until the client gives up, --attempt-timeout 300ms lets the run
// finish (each hang costs one short attempt, then a retry) instead of
// holding a worker 60 s per hang.
func TestAttemptTimeoutFlag(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.Hang = 0.1
	em := startEmulator(t, opts)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 40, 0, 0, 40)
	out := filepath.Join(dir, "out.csv")
	mustRun(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none", "--attempt-timeout", "300ms")
	if em.Counters().Faults["hang"] == 0 {
		t.Fatal("no request hung; the test tests nothing")
	}
	if got := lineCount(t, out); got != 41 {
		t.Errorf("output lines = %d, want 41", got)
	}
	if r := runBatch(t, em.URL, "run", "-i", in, "-o", filepath.Join(dir, "x.csv"), "--verify", "--attempt-timeout", "0s"); r.code != ExitUsage {
		t.Errorf("--attempt-timeout 0s: exit %d, want %d", r.code, ExitUsage)
	}
}
