package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"github.com/contactbatch/batch/pipeline"
	"sync"
	"testing"
)

// TestWriterBatchesAndIsolatesFailures checks that concurrent writes share
// transactions and that a failing operation fails only its own caller.
func TestWriterBatchesAndIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	l, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Start(ctx, Job{Identity: "w"}); err != nil {
		t.Fatal(err)
	}
	l.w.commits.Store(0)
	bad := errors.New("bad op")
	const callers, per = 16, 100
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range per {
				if g == 0 && i%10 == 0 {
					// Writes, then fails: its write must be rolled back alone.
					err := l.w.do(ctx, func(ctx context.Context, tx *txn) error {
						if _, err := tx.st.putPending.ExecContext(ctx, "bad", fmt.Sprint(i), []byte("{}"), 0); err != nil {
							return err
						}
						return bad
					})
					if !errors.Is(err, bad) {
						t.Errorf("failing op = %v, want %v", err, bad)
					}
					continue
				}
				if err := l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: fmt.Sprintf("%d-%d", g, i), Status: "ok"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := l.w.commits.Load(); n >= callers*per {
		t.Errorf("%d transactions for %d writes: no group commit", n, callers*per)
	} else {
		t.Logf("%d transactions for %d writes", n, callers*per)
	}
	c, err := l.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Results["verify"]["ok"] != callers*per-per/10 || c.Pending["bad"] != 0 {
		t.Fatalf("Counts() = %+v, want %d results and no bad pending rows", c, callers*per-per/10)
	}
	l.Close()
	l2, err := Open(ctx, l.dir) // the key summary survived the rollbacks
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
}
