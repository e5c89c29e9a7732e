package checkpoint_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/internal/pgtest"
	"github.com/contactbatch/batch/pipeline"
)

// pgSchemaURL returns a URL whose connections use a fresh schema of the
// test database (dropped when the test ends), so that concurrent test runs
// do not share cache tables. Without PostgreSQL the test skips, unless
// BATCH_REQUIRE_SERVICES is set.
func pgSchemaURL(t *testing.T) string {
	t.Helper()
	return pgtest.SchemaURL(t, "cache_t_")
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func openPG(t *testing.T, url string, opts checkpoint.PGCacheOptions) *checkpoint.PGCache {
	t.Helper()
	c, err := checkpoint.OpenPGCache(context.Background(), url, checkpoint.DefaultTTLPolicy(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPGCachePutGetExpire(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := openPG(t, url, checkpoint.PGCacheOptions{Now: clock.Now, Owner: "a"})
	if r, err := c.Get(ctx, "verify", "a@x.com"); r != nil || err != nil {
		t.Fatalf("empty cache: %v, %v", r, err)
	}
	want := pipeline.StoredResult{Kind: "verify", Key: "a@x.com", Status: "found", Verdict: "unknown", Data: []byte(`{"v":1}`)}
	if err := c.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	// A second process sees it at once: Put is synchronous.
	other := openPG(t, url, checkpoint.PGCacheOptions{Now: clock.Now, Owner: "b"})
	got, err := other.Get(ctx, "verify", "a@x.com")
	if err != nil || got == nil || string(got.Data) != `{"v":1}` || got.Verdict != "unknown" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	clock.Add(25 * time.Hour) // "unknown" lives a day
	if got, err := other.Get(ctx, "verify", "a@x.com"); got != nil || err != nil {
		t.Fatalf("expired answer served: %+v, %v", got, err)
	}
}

// TestPGCacheClaimedKeyIsReported: a process that misses a key another
// process has claimed is told so at once (ErrClaimed, no wait), and is
// handed that process's answer once it is Put.
func TestPGCacheClaimedKeyIsReported(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	a := openPG(t, url, checkpoint.PGCacheOptions{Owner: "a"})
	if r, err := a.Get(ctx, "organization", "domain:x.com"); r != nil || err != nil {
		t.Fatalf("first Get should miss and claim: %v, %v", r, err)
	}
	b := openPG(t, url, checkpoint.PGCacheOptions{Owner: "b"})
	if r, err := b.Get(ctx, "organization", "domain:x.com"); r != nil || !errors.Is(err, pipeline.ErrClaimed) {
		t.Fatalf("b.Get on a's claim = %v, %v; want ErrClaimed", r, err)
	}
	// a asking again is not blocked by its own claim.
	if r, err := a.Get(ctx, "organization", "domain:x.com"); r != nil || err != nil {
		t.Fatalf("a.Get on its own claim = %v, %v; want a miss", r, err)
	}
	if err := a.Put(ctx, pipeline.StoredResult{Kind: "organization", Key: "domain:x.com", Status: "found", Verdict: "found", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "organization", "domain:x.com")
	if err != nil || got == nil || got.Status != "found" {
		t.Fatalf("b.Get = %+v, %v; want a's answer", got, err)
	}
}

// TestPGCacheClaimTakenOverWhenExpired: a claimant that died leaves a
// claim that another process takes over once it expires.
func TestPGCacheClaimTakenOverWhenExpired(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	a := openPG(t, url, checkpoint.PGCacheOptions{Owner: "a", Now: clock.Now, ClaimTTL: time.Minute})
	if r, _ := a.Get(ctx, "verify", "k"); r != nil {
		t.Fatal("want a miss")
	}
	b := openPG(t, url, checkpoint.PGCacheOptions{Owner: "b", Now: clock.Now, ClaimTTL: time.Minute})
	if _, err := b.Get(ctx, "verify", "k"); !errors.Is(err, pipeline.ErrClaimed) {
		t.Fatalf("b.Get on a live claim: %v, want ErrClaimed", err)
	}
	clock.Add(time.Minute) // a never answers; its claim expires
	r, err := b.Get(ctx, "verify", "k")
	if r != nil || err != nil {
		t.Fatalf("b.Get = %v, %v; want a miss after taking the claim over", r, err)
	}
	// b holds the claim now: a's Get does not claim it back; b's answer
	// is what a gets.
	if _, err := a.Get(ctx, "verify", "k"); !errors.Is(err, pipeline.ErrClaimed) {
		t.Fatalf("a.Get on b's claim: %v, want ErrClaimed", err)
	}
	if err := b.Put(ctx, pipeline.StoredResult{Kind: "verify", Key: "k", Status: "found", Verdict: "deliverable", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if r, err := a.Get(ctx, "verify", "k"); r == nil || err != nil || r.Verdict != "deliverable" {
		t.Fatalf("a.Get = %+v, %v; want b's answer", r, err)
	}
}

// TestPGCacheCloseReleasesClaims: a stopped run's unanswered claims do not
// make other processes wait.
func TestPGCacheCloseReleasesClaims(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	a, err := checkpoint.OpenPGCache(ctx, url, checkpoint.DefaultTTLPolicy(), checkpoint.PGCacheOptions{Owner: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := a.Get(ctx, "verify", "k"); r != nil {
		t.Fatal("want a miss")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openPG(t, url, checkpoint.PGCacheOptions{Owner: "b"})
	if r, err := b.Get(ctx, "verify", "k"); r != nil || err != nil {
		t.Fatalf("b.Get = %v, %v; want a miss (a released its claim)", r, err)
	}
}

// TestPGCacheEachKeyPaidOnce: three processes' worth of caches all want
// the same keys, each process asking for every key once (as the pipeline's
// in-run dedupe does) from several goroutines: every key is missed, and so
// paid for, by exactly one of them, and everyone gets the answer.
func TestPGCacheEachKeyPaidOnce(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	var caches []*checkpoint.PGCache
	for i := range 3 {
		caches = append(caches, openPG(t, url, checkpoint.PGCacheOptions{Owner: fmt.Sprint("p", i)}))
	}
	const keys, workers = 60, 6
	var paid [keys]atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 3*workers)
	for p, c := range caches {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < keys; i += workers {
					k := (i + p*17) % keys // each process in its own order
					key := fmt.Sprintf("domain:d%d.com", k)
					r, err := c.Get(ctx, "organization", key)
					for errors.Is(err, pipeline.ErrClaimed) {
						runtime.Gosched() // another process pays: ask again
						r, err = c.Get(ctx, "organization", key)
					}
					if err != nil {
						errs <- err
						return
					}
					if r == nil {
						paid[k].Add(1)
						if err := c.Put(ctx, pipeline.StoredResult{Kind: "organization", Key: key, Status: "found", Verdict: "found", Data: []byte(`{}`)}); err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for k := range keys {
		if n := paid[k].Load(); n != 1 {
			t.Errorf("key %d paid %d times, want 1", k, n)
		}
	}
}

// TestPGBudgetNeverExceeded: many takers from several "processes" never
// reserve more than the cap in all; calls given back can be taken again.
func TestPGBudgetNeverExceeded(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	const max = 100
	var budgets []*checkpoint.PGBudget
	for range 3 {
		b, err := checkpoint.OpenPGBudget(ctx, url, "job-1", max)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		budgets = append(budgets, b)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, b := range budgets {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := b.Take(ctx, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
					total.Add(n)
				}
			}()
		}
	}
	wg.Wait()
	if total.Load() != max {
		t.Fatalf("took %d calls in all, want exactly %d", total.Load(), max)
	}
	if err := budgets[0].Give(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if n, _ := budgets[1].Take(ctx, 50); n != 10 {
		t.Errorf("after giving back 10, took %d, want 10", n)
	}
	// Another job has a budget of its own; raising the cap lets a job go on.
	other, err := checkpoint.OpenPGBudget(ctx, url, "job-2", 5)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if n, _ := other.Take(ctx, 9); n != 5 {
		t.Errorf("job-2 took %d of 5", n)
	}
	raised, err := checkpoint.OpenPGBudget(ctx, url, "job-1", max+20)
	if err != nil {
		t.Fatal(err)
	}
	defer raised.Close()
	if n, _ := raised.Take(ctx, 50); n != 20 {
		t.Errorf("after raising the cap by 20, took %d", n)
	}
}
