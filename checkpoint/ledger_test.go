package checkpoint_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
	"github.com/google/go-cmp/cmp"
)

func openLedger(t *testing.T, dir string) *checkpoint.Ledger {
	t.Helper()
	l, err := checkpoint.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func startedLedger(t *testing.T, dir string) *checkpoint.Ledger {
	t.Helper()
	l := openLedger(t, dir)
	if err := l.Start(context.Background(), testJob()); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	return l
}

func testJob() checkpoint.Job {
	return checkpoint.Job{
		Identity:    "id-1",
		Input:       "contacts.csv",
		Fingerprint: "sha256:abc",
		Options:     json.RawMessage(`{"verify":true}`),
		Header:      []string{"email", "name"},
		CreatedAt:   time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	}
}

func TestJobAndProgress(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	l := openLedger(t, dir)
	if _, err := l.Job(ctx); !errors.Is(err, checkpoint.ErrNoJob) {
		t.Fatalf("Job() on a fresh dir = %v, want ErrNoJob", err)
	}
	if _, err := l.Progress(ctx); !errors.Is(err, checkpoint.ErrNoJob) {
		t.Fatalf("Progress() on a fresh dir = %v, want ErrNoJob", err)
	}
	if err := l.Commit(ctx, pipeline.Progress{Seq: 1}); !errors.Is(err, checkpoint.ErrNoJob) {
		t.Fatalf("Commit() before Start = %v, want ErrNoJob", err)
	}
	if err := l.Start(ctx, testJob()); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, testJob()); err == nil {
		t.Fatal("second Start() = nil, want an error")
	}
	if p, err := l.Progress(ctx); err != nil || !cmp.Equal(p, pipeline.Progress{}) {
		t.Fatalf("Progress() on a new job = %+v, %v, want zero", p, err)
	}
	want := pipeline.Progress{Seq: 42, Cursor: "off=1234", SinkPos: "s", RejectPos: "r", Counters: map[counter.Name]int64{"ok": 40, "invalid": 2}, UpdatedAt: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)}
	if err := l.Commit(ctx, want); err != nil {
		t.Fatal(err)
	}
	l.Close()

	l = openLedger(t, dir)
	j, err := l.Job(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testJob(), *j); diff != "" {
		t.Errorf("Job() after reopen (-want +got):\n%s", diff)
	}
	got, err := l.Progress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Progress() after reopen (-want +got):\n%s", diff)
	}
}

func TestResults(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	results := []pipeline.StoredResult{
		{Kind: "verify", Key: "ann@example.com", Status: "ok", Verdict: "deliverable", Data: json.RawMessage(`{"a":1}`), FetchedAt: at},
		{Kind: "person", Key: "ann@example.com", Status: "found", Verdict: "found", Data: json.RawMessage(`{"p":2}`), FetchedAt: at},
		{Kind: "organization", Key: "example.com", Status: "not_found", Verdict: "not_found", FetchedAt: at},
	}
	for _, r := range results {
		if err := l.PutResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := l.Result(ctx, "verify", "bob@example.com"); r != nil || err != nil {
		t.Errorf("Result(absent) = %v, %v, want nil, nil", r, err)
	}
	if r, err := l.Result(ctx, "organization", "ann@example.com"); r != nil || err != nil {
		t.Errorf("Result(other kind) = %v, %v, want nil, nil", r, err)
	}
	// Replacing keeps one entry.
	results[0].Verdict = "risky"
	if err := l.PutResult(ctx, results[0]); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLedger(t, dir)
	for _, want := range results {
		got, err := l.Result(ctx, want.Kind, want.Key)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Result(%s, %s) (-want +got):\n%s", want.Kind, want.Key, diff)
		}
	}
	c, err := l.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := checkpoint.Counts{
		Results: map[string]map[string]int64{"verify": {"ok": 1}, "person": {"found": 1}, "organization": {"not_found": 1}},
		Pending: map[string]int64{},
	}
	if diff := cmp.Diff(wantCounts, c); diff != "" {
		t.Errorf("Counts() (-want +got):\n%s", diff)
	}
	// Keys are not stored in the clear (RELIABILITY G1).
	l.Close()
	for _, name := range []string{"ledger.db", "ledger.db-wal", "job.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if bytes.Contains(b, []byte("ann@example.com")) || bytes.Contains(b, []byte("example.com\x00")) {
			t.Errorf("%s contains a raw key", name)
		}
	}
}

func TestPending(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	p1 := pipeline.Pending{Kind: "person", Handle: "https://api/results/1", Keys: []string{"a@x.com"}, Data: json.RawMessage(`{"q":1}`), CreatedAt: t0}
	p2 := pipeline.Pending{Kind: "verify", Handle: "job-7", Keys: []string{"b@x.com", "c@x.com"}, CreatedAt: t0.Add(time.Minute)}
	for _, p := range []pipeline.Pending{p1, p2} {
		if err := l.PutPending(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	p1.Data = json.RawMessage(`{"q":2}`)
	if err := l.PutPending(ctx, p1); err != nil { // upsert
		t.Fatal(err)
	}
	got, err := l.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]pipeline.Pending{p1, p2}, got); diff != "" {
		t.Fatalf("Pending() (-want +got):\n%s", diff)
	}
	// The answer and the handle's removal are one transaction.
	if err := l.PutResult(ctx, pipeline.StoredResult{Kind: "person", Key: "a@x.com", Status: "found"}, pipeline.PendingID{Kind: "person", Handle: p1.Handle}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLedger(t, dir)
	if got, _ := l.Pending(ctx); !cmp.Equal([]pipeline.Pending{p2}, got) {
		t.Fatalf("Pending() after PutResult(done) = %+v, want only %s", got, p2.Handle)
	}
	if r, _ := l.Result(ctx, "person", "a@x.com"); r == nil {
		t.Fatal("Result() after PutResult(done) = nil")
	}
	if err := l.DeletePending(ctx, pipeline.PendingID{Kind: "verify", Handle: "job-7"}, pipeline.PendingID{Kind: "verify", Handle: "absent"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Pending(ctx); len(got) != 0 {
		t.Fatalf("Pending() after DeletePending = %+v, want none", got)
	}
}

func TestReset(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: "a@x.com", Status: "ok"})
	l.PutPending(ctx, pipeline.Pending{Kind: "verify", Handle: "j"})
	l.Commit(ctx, pipeline.Progress{Seq: 9})
	if err := l.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Job(ctx); !errors.Is(err, checkpoint.ErrNoJob) {
		t.Fatalf("Job() after Reset = %v, want ErrNoJob", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "job.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("job.json after Reset: %v, want it gone", err)
	}
	l.Close()
	l = openLedger(t, dir)
	if err := l.Start(ctx, testJob()); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Result(ctx, "verify", "a@x.com"); r != nil || err != nil {
		t.Fatalf("Result() after Reset = %v, %v, want nil", r, err)
	}
	if p, _ := l.Pending(ctx); len(p) != 0 {
		t.Fatalf("Pending() after Reset = %v", p)
	}
	if p, _ := l.Progress(ctx); p.Seq != 0 {
		t.Fatalf("Progress() after Reset = %+v", p)
	}
}

// TestGroupCommit checks that concurrent PutResults are all stored and share
// transactions.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	const callers, per = 16, 200
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range per {
				if err := l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: fmt.Sprintf("%d-%d", g, i), Status: "ok", Data: json.RawMessage(fmt.Sprint(i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	l.Close()
	l = openLedger(t, dir)
	for g := range callers {
		for i := range per {
			r, err := l.Result(ctx, "verify", fmt.Sprintf("%d-%d", g, i))
			if err != nil || r == nil || string(r.Data) != fmt.Sprint(i) {
				t.Fatalf("Result(%d-%d) = %v, %v", g, i, r, err)
			}
		}
	}
	c, _ := l.Counts(ctx)
	if c.Results["verify"]["ok"] != callers*per {
		t.Fatalf("Counts() = %v, want %d", c, callers*per)
	}
}

// TestCancelledCallers checks that callers giving up do not disturb others.
func TestCancelledCallers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 100 {
				key := fmt.Sprintf("%d-%d", g, i)
				if g%2 == 1 {
					cctx, cancel := context.WithCancel(ctx)
					if i%2 == 0 {
						cancel()
					}
					go cancel()
					err := l.PutResult(cctx, pipeline.StoredResult{Kind: "verify", Key: key, Status: "maybe"})
					if err != nil && !errors.Is(err, context.Canceled) {
						t.Errorf("PutResult(cancelled) = %v", err)
					}
					continue
				}
				if err := l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: key, Status: "ok"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Commit(ctx, pipeline.Progress{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLedger(t, dir) // key summary must still match
	for g := 0; g < 16; g += 2 {
		for i := range 100 {
			if r, err := l.Result(ctx, "verify", fmt.Sprintf("%d-%d", g, i)); r == nil || err != nil {
				t.Fatalf("Result(%d-%d) = %v, %v", g, i, r, err)
			}
		}
	}
}

func TestWritesAfterClose(t *testing.T) {
	ctx := context.Background()
	l := startedLedger(t, t.TempDir())
	l.Close()
	if err := l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: "k"}); err == nil {
		t.Fatal("PutResult after Close = nil, want an error")
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := checkpoint.OpenReadOnly(ctx, dir); !errors.Is(err, checkpoint.ErrNoJob) {
		t.Fatalf("OpenReadOnly(empty) = %v, want ErrNoJob", err)
	}
	l := startedLedger(t, dir)
	l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: "a", Status: "ok"})
	l.PutPending(ctx, pipeline.Pending{Kind: "person", Handle: "h"})
	l.Commit(ctx, pipeline.Progress{Seq: 5, Cursor: "c"})
	// The writer still holds the lock.
	ro, err := checkpoint.OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if p, err := ro.Progress(ctx); err != nil || p.Seq != 5 {
		t.Fatalf("Progress() = %+v, %v", p, err)
	}
	if c, err := ro.Counts(ctx); err != nil || c.Results["verify"]["ok"] != 1 || c.Pending["person"] != 1 {
		t.Fatalf("Counts() = %+v, %v", c, err)
	}
	if r, err := ro.Result(ctx, "verify", "a"); r == nil || err != nil {
		t.Fatalf("Result() = %v, %v", r, err)
	}
	if err := ro.Commit(ctx, pipeline.Progress{}); err == nil {
		t.Fatal("Commit() on a read-only ledger = nil, want an error")
	}
	// Writes by the run are visible.
	l.Commit(ctx, pipeline.Progress{Seq: 6})
	if p, _ := ro.Progress(ctx); p.Seq != 6 {
		t.Fatalf("Progress() after a new commit = %d, want 6", p.Seq)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	cmd, _, line := startHelper(t, "hold", dir)
	if line != "ready" {
		t.Fatalf("helper: %s", line)
	}
	for range 3 {
		_, err := checkpoint.Open(context.Background(), dir)
		if !errors.Is(err, checkpoint.ErrLocked) {
			t.Fatalf("Open while another process holds it = %v, want ErrLocked", err)
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("ErrLocked message %q does not name %s", err, dir)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	l, err := checkpoint.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open after the holder was killed = %v", err)
	}
	l.Close()
}

func TestLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	openLedger(t, dir)
	if _, err := checkpoint.Open(context.Background(), dir); !errors.Is(err, checkpoint.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

// TestCrashDuringPuts kills a process storing results with SIGKILL and checks
// that every result it acknowledged is present after reopening.
func TestCrashDuringPuts(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := t.TempDir()
			cmd, sc, line := startHelper(t, "putloop", dir)
			if line != "ready" {
				t.Fatalf("helper: %s", line)
			}
			var acked []string
			for len(acked) < 500*(round+1) && sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 2 || f[0] != "ack" {
					t.Fatalf("helper: %s", sc.Text())
				}
				acked = append(acked, f[1])
			}
			cmd.Process.Signal(syscall.SIGKILL)
			for sc.Scan() { // acks already written before the kill count too
				if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "ack" {
					acked = append(acked, f[1])
				}
			}
			cmd.Wait()
			l := openLedger(t, dir)
			for _, k := range acked {
				if r, err := l.Result(context.Background(), "verify", k); r == nil || err != nil {
					t.Fatalf("acknowledged %s: Result() = %v, %v after kill -9", k, r, err)
				}
			}
			t.Logf("%d acknowledged results present", len(acked))
		})
	}
}

func TestFileModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "state")
	l := startedLedger(t, dir)
	l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: "k", Status: "ok"})
	cpath := filepath.Join(t.TempDir(), "c", "cache.db")
	c, err := checkpoint.OpenCache(ctx, cpath, checkpoint.DefaultTTLPolicy())
	if err != nil {
		t.Fatal(err)
	}
	c.Put(ctx, pipeline.StoredResult{Kind: "verify", Key: "k", Verdict: "deliverable"})
	c.Get(ctx, "verify", "k")
	check := func(path string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			return
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %o, want %o", path, got, want)
		}
	}
	check(dir, 0o700)
	check(filepath.Dir(dir), 0o700)
	for _, n := range []string{"LOCK", "ledger.db", "ledger.db-wal", "ledger.db-shm", "job.json", "results.log"} {
		check(filepath.Join(dir, n), 0o600)
	}
	check(filepath.Dir(cpath), 0o700)
	for _, n := range []string{cpath, cpath + "-wal", cpath + "-shm", cpath + ".secret"} {
		check(n, 0o600)
	}
	c.Close()
	l.Close()
}
