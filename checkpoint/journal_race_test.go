package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
)

// TestResultsLogReadersDuringRotation: Result and Counts racing rotations
// (the file and its index replaced) never see an error or a missing answer.
func TestResultsLogReadersDuringRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := checkpoint.OpenRotateAt(ctx, dir, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Start(ctx, testJob()); err != nil {
		t.Fatal(err)
	}
	putN(t, l, 0, 40, "ok")
	var stop atomic.Bool
	var bad atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := fmt.Sprintf("u%d@example.com", (i*7+g)%40)
				r, err := l.Result(ctx, "verify", k)
				if err != nil || r == nil {
					if bad.Add(1) <= 3 {
						t.Errorf("Result(%s) = %v, %v", k, r, err)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for !stop.Load() {
			if _, err := l.Counts(ctx); err != nil {
				if bad.Add(1) <= 6 {
					t.Errorf("Counts: %v", err)
				}
			}
		}
	})
	for round := 0; round < 300 && bad.Load() == 0; round++ {
		putN(t, l, 1000+round*60, 1000+(round+1)*60, "ok")
	}
	stop.Store(true)
	wg.Wait()
}

// TestResultsLogCountsDuringRotation: Counts neither fails nor undercounts
// while rotations move records from the log into the table.
func TestResultsLogCountsDuringRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := checkpoint.OpenRotateAt(ctx, dir, 200)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Start(ctx, testJob()); err != nil {
		t.Fatal(err)
	}
	putN(t, l, 0, 199, "ok")
	stopC := make(chan struct{})
	done := make(chan struct{})
	var wrong atomic.Int64
	var errs atomic.Int64
	var last atomic.Value
	go func() {
		defer close(done)
		for i := 0; i < 100000; i++ {
			select {
			case <-stopC:
				return
			default:
			}
			c, err := l.Counts(ctx)
			if err != nil {
				errs.Add(1)
				last.Store(err.Error())
				continue
			}
			if n := c.Results["verify"]["ok"]; n < 199 {
				wrong.Add(1)
				last.Store(fmt.Sprint("count ", n))
			}
		}
	}()
	putN(t, l, 199, 20199, "ok") // 100 rotations
	close(stopC)
	<-done
	if wrong.Load()+errs.Load() > 0 {
		t.Errorf("Counts during rotation: %d wrong, %d errors, last %v", wrong.Load(), errs.Load(), last.Load())
	}
}

// TestResultsLogMissingAfterPartialRotation: a log deleted after a
// rotation moved part of it (before any Commit) is reported, not replaced by
// an empty one.
func TestResultsLogMissingAfterPartialRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := checkpoint.OpenRotateFailing(ctx, dir, 100, 10, errors.New("injected"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, testJob()); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: fmt.Sprintf("u%d@example.com", i), Status: "ok"}) // the 100th fails (injected)
	}
	l.Close() // killed before the first Commit
	os.Remove(filepath.Join(dir, "results.log"))
	if _, err := checkpoint.OpenRotateAt(ctx, dir, 1000); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Open() with the log deleted = %v, want ErrCorrupt", err)
	}
}

// TestResultsLogRotationCheckpointBusy: a reader holding an old snapshot
// makes the rotation's WAL checkpoint fail after the generation switch
// committed. The log then takes no more answers (they fail, they are not
// acknowledged), and every acknowledged answer survives a crash.
func TestResultsLogRotationCheckpointBusy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedRotating(t, dir, 100)
	putN(t, l, 0, 99, "ok")
	if err := l.Commit(ctx, pipeline.Progress{Seq: 99}); err != nil {
		t.Fatal(err)
	}
	raw, err := openRaw(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM meta`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	rotErr := make(chan error, 1)
	go func() {
		rotErr <- l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: "u99@example.com", Status: "ok", Data: []byte("99")})
	}()
	time.Sleep(time.Second) // the rotation is in its checkpoint now
	var wg sync.WaitGroup
	acked := make([]bool, 5)
	for i := range 5 {
		wg.Go(func() {
			err := l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: fmt.Sprintf("late%d", i), Status: "ok"})
			acked[i] = err == nil
		})
	}
	if err := <-rotErr; err == nil {
		t.Fatal("the rotating PutResult succeeded; the test needs its checkpoint to fail")
	}
	wg.Wait()
	tx.Rollback()
	l.Close() // as if killed: no Commit since
	l, err = checkpoint.OpenRotateAt(ctx, dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wantN(t, l, 0, 99, "ok")
	for i := range 5 {
		r, err := l.Result(ctx, "verify", fmt.Sprintf("late%d", i))
		if acked[i] && (r == nil || err != nil) {
			t.Errorf("acknowledged late%d lost after reopen: %v, %v", i, r, err)
		}
	}
}
