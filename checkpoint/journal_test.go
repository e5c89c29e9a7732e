package checkpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
)

// startedRotating opens dir with a rotation every n records and starts the
// test job.
func startedRotating(t *testing.T, dir string, n int) *checkpoint.Ledger {
	t.Helper()
	l, err := checkpoint.OpenRotateAt(context.Background(), dir, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Start(context.Background(), testJob()); err != nil {
		t.Fatal(err)
	}
	return l
}

func putN(t *testing.T, l *checkpoint.Ledger, from, to int, status string) {
	t.Helper()
	for i := from; i < to; i++ {
		r := pipeline.StoredResult{Kind: "verify", Key: fmt.Sprintf("u%d@example.com", i), Status: status, Data: json.RawMessage(fmt.Sprint(i))}
		if err := l.PutResult(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func wantN(t *testing.T, l *checkpoint.Ledger, from, to int, status string) {
	t.Helper()
	for i := from; i < to; i++ {
		r, err := l.Result(context.Background(), "verify", fmt.Sprintf("u%d@example.com", i))
		if err != nil || r == nil || r.Status != status || string(r.Data) != fmt.Sprint(i) {
			t.Fatalf("Result(u%d) = %+v, %v; want status %s", i, r, err, status)
		}
	}
}

// TestResultsLogTail: records written after the last Commit survive a
// reopen; a torn tail after it is cut off and the log goes on from there.
func TestResultsLogTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	putN(t, l, 0, 100, "ok")
	if err := l.Commit(ctx, pipeline.Progress{Seq: 100}); err != nil {
		t.Fatal(err)
	}
	putN(t, l, 100, 150, "ok") // after the commit
	l.Close()
	path := filepath.Join(dir, "results.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 0, 90, 1, 2, 3}) // a torn record
	f.Close()
	l = openLedger(t, dir)
	wantN(t, l, 0, 150, "ok")
	putN(t, l, 150, 160, "ok")
	if err := l.Commit(ctx, pipeline.Progress{Seq: 160}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLedger(t, dir)
	defer l.Close()
	wantN(t, l, 0, 160, "ok")
	c, err := l.Counts(ctx)
	if err != nil || c.Results["verify"]["ok"] != 160 {
		t.Fatalf("Counts() = %v, %v", c, err)
	}
}

// TestResultsLogRotation: with concurrent writers, results moved into the
// database and results still in the log read back the same, later answers
// replace earlier ones on either side, and Counts counts each key once.
func TestResultsLogRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedRotating(t, dir, 100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() { putN(t, l, g*125, (g+1)*125, "old") })
	}
	wg.Wait()
	wantN(t, l, 0, 1000, "old")
	putN(t, l, 0, 1000, "new") // replaces every answer, across rotations
	if err := l.Commit(ctx, pipeline.Progress{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	wantN(t, l, 0, 1000, "new")
	l.Close()
	l, err := checkpoint.OpenRotateAt(ctx, dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wantN(t, l, 0, 1000, "new")
	c, err := l.Counts(ctx)
	if err != nil || c.Results["verify"]["new"] != 1000 || len(c.Results["verify"]) != 1 {
		t.Fatalf("Counts() = %v, %v; want 1000 new", c, err)
	}
	ro, err := checkpoint.OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	wantN(t, ro, 0, 1000, "new")
}

// TestResultsLogRotationCrash: a crash after a rotation committed in the
// database but before the new log replaced the old one opens with every
// result, read from the database.
func TestResultsLogRotationCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedRotating(t, dir, 50)
	putN(t, l, 0, 40, "ok")
	if err := l.Commit(ctx, pipeline.Progress{Seq: 40}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "results.log")
	old, err := os.ReadFile(path) // generation 1 with 40 records
	if err != nil {
		t.Fatal(err)
	}
	putN(t, l, 40, 50, "ok") // the 50th record rotates
	l.Close()
	if err := os.WriteFile(path, old, 0o600); err != nil { // as if the new file never replaced it
		t.Fatal(err)
	}
	l = openLedger(t, dir)
	defer l.Close()
	wantN(t, l, 0, 50, "ok")
	putN(t, l, 50, 60, "ok")
	wantN(t, l, 0, 60, "ok")
}

// TestResultsLogStale: a results log left by a deleted ledger is not read
// into a new one.
func TestResultsLogStale(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	putN(t, l, 0, 10, "ok")
	l.Close()
	for _, n := range []string{"ledger.db", "ledger.db-wal", "ledger.db-shm", "job.json"} {
		os.Remove(filepath.Join(dir, n))
	}
	l = startedLedger(t, dir)
	defer l.Close()
	if r, err := l.Result(ctx, "verify", "u1@example.com"); r != nil || err != nil {
		t.Fatalf("Result() in a new ledger = %+v, %v; want none", r, err)
	}
	if err := l.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Result(ctx, "verify", "u1@example.com"); !errors.Is(err, checkpoint.ErrNoJob) {
		t.Fatalf("Result() after Reset = %v, want ErrNoJob", err)
	}
}

// TestResultsLogRotationInterrupted: a rotation that stops after moving part
// of the log (here an injected failure before its second transaction, as a
// crash would) leaves a ledger that opens with every result, part read from
// the database and part from the log, and that rotates fully later.
func TestResultsLogRotationInterrupted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	injected := errors.New("injected failure")
	l, err := checkpoint.OpenRotateFailing(ctx, dir, 100, 30, injected)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, testJob()); err != nil {
		t.Fatal(err)
	}
	putN(t, l, 0, 99, "ok")
	r := pipeline.StoredResult{Kind: "verify", Key: "u99@example.com", Status: "ok", Data: json.RawMessage("99")}
	if err := l.PutResult(ctx, r); !errors.Is(err, injected) {
		t.Fatalf("PutResult() that rotates = %v, want the injected failure", err)
	}
	l.Close()
	l, err = checkpoint.OpenRotateAt(ctx, dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	wantN(t, l, 0, 100, "ok")
	c, err := l.Counts(ctx)
	if err != nil || c.Results["verify"]["ok"] != 100 {
		t.Fatalf("Counts() = %v, %v; want 100", c, err)
	}
	putN(t, l, 100, 160, "ok") // the 100th record in the log (u129) rotates
	l.Close()
	l = openLedger(t, dir)
	wantN(t, l, 0, 160, "ok")
	if c, err := l.Counts(ctx); err != nil || c.Results["verify"]["ok"] != 160 {
		t.Fatalf("Counts() = %v, %v; want 160", c, err)
	}
	db, err := openRaw(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM result`).Scan(&n); err != nil || n != 130 {
		t.Fatalf("result table holds %d rows (%v), want 130", n, err)
	}
}

// TestResultsLogReaderRacesRotation: `batch status` reading the meta row
// of one generation and the log of the next (a rotation in between) is
// told to try again, not that the ledger is corrupt; a writer opening the
// same files does report corruption.
func TestResultsLogReaderRacesRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedRotating(t, dir, 20)
	putN(t, l, 0, 10, "ok")
	if err := l.Commit(ctx, pipeline.Progress{Seq: 10}); err != nil {
		t.Fatal(err)
	}
	l.Close() // checkpoints the WAL: ledger.db alone holds generation 1
	before, err := os.ReadFile(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	l, err = checkpoint.OpenRotateAt(ctx, dir, 20)
	if err != nil {
		t.Fatal(err)
	}
	putN(t, l, 10, 20, "ok") // rotates: generation 2
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, "ledger.db"), before, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.OpenReadOnly(ctx, dir); err == nil || errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), "try again") {
		t.Fatalf("OpenReadOnly() = %v, want a try-again error", err)
	}
	if _, err := checkpoint.Open(ctx, dir); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Open() = %v, want ErrCorrupt", err)
	}
}
