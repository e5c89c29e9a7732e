package checkpoint

import (
	"context"
	"fmt"
	"github.com/contactbatch/batch/pipeline"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMeasure prints the figures in the package report. It is slow (it
// builds a ledger of CHECKPOINT_MEASURE results) and runs only when that
// variable is set, e.g. CHECKPOINT_MEASURE=1000000.
func TestMeasure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CHECKPOINT_MEASURE"))
	if n <= 0 {
		t.Skip("set CHECKPOINT_MEASURE=<results> to measure")
	}
	ctx := context.Background()
	for _, mode := range []syncMode{syncNormal, syncFull} {
		dir := t.TempDir()
		o := defaultOptions()
		o.sync = mode
		l, err := open(ctx, dir, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Start(ctx, Job{Identity: "m"}); err != nil {
			t.Fatal(err)
		}
		for _, callers := range []int{1, 16} {
			const per = 1000
			start := time.Now()
			var wg sync.WaitGroup
			for g := range callers {
				wg.Go(func() {
					for i := range per {
						r := pipeline.StoredResult{Kind: "verify", Key: fmt.Sprintf("w%d-%d-%d@example.com", callers, g, i), Status: "ok", Verdict: "deliverable", Data: payload}
						if err := l.PutResult(ctx, r); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			d := time.Since(start)
			t.Logf("synchronous=%s: PutResult %d callers: %.0f results/s, %d transactions for %d results", mode, callers, float64(callers*per)/d.Seconds(), l.w.commits.Load(), callers*per)
			l.w.commits.Store(0)
		}
		l.Close()
	}

	dir := t.TempDir()
	l, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, Job{Identity: "m"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				r := pipeline.StoredResult{Kind: "verify", Key: fmt.Sprintf("user%d@example.com", i), Status: "ok", Verdict: "deliverable", Data: payload}
				if err := l.PutResult(ctx, r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Commit(ctx, pipeline.Progress{Seq: int64(n), Cursor: "c"}); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("filled %d results with 16 callers in %v (%.0f/s, %d transactions)", n, d, float64(n)/d.Seconds(), l.w.commits.Load())
	l.Close()
	fi, _ := os.Stat(dir + "/" + dbName)
	t.Logf("ledger.db size %d MB", fi.Size()>>20)

	for i := range 3 {
		start = time.Now()
		l, err = Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.Progress(ctx)
		if err != nil || p.Seq != int64(n) {
			t.Fatal(p, err)
		}
		t.Logf("Open+Progress on %d results (run %d): %v", n, i, time.Since(start))
		if i < 2 {
			l.Close()
		}
	}
	defer l.Close()
	for _, g := range []int{1, 4} {
		const per = 50000
		start = time.Now()
		var wg sync.WaitGroup
		for j := range g {
			wg.Go(func() {
				for i := range per {
					r, err := l.Result(ctx, "verify", fmt.Sprintf("user%d@example.com", (i*7919+j*104729)%n))
					if err != nil || r == nil {
						t.Error(r, err)
						return
					}
				}
			})
		}
		wg.Wait()
		d = time.Since(start)
		t.Logf("Result lookups, %d goroutines: %.0f/s", g, float64(g*per)/d.Seconds())
	}
	start = time.Now()
	c, err := l.Counts(ctx)
	t.Logf("Counts: %v %v in %v", c, err, time.Since(start))
}

// payload is a typical verify result body (about 400 bytes).
var payload = []byte(`{"verification":{"email":"someone@example.com","deliverable":"true","isValidSyntax":true,"isRisky":false,"isCatchAll":false,"isRoleAccount":false,"isFreeAccount":false,"provider":"google","smtp":{"canConnect":true,"responseCode":250,"description":"ok"},"mx":["aspmx.l.google.com","alt1.aspmx.l.google.com"],"verdict":"deliverable","reasons":[]},"raw":{"status":"success","message":"","data":{"emailData":{"deliverable":"true"}}}}`)
