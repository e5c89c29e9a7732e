package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/internal/pgtest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
)

// pgSchemaURL returns the test database's URL with connections confined
// to a fresh schema (dropped at the end). Without PostgreSQL the test
// skips, unless BATCH_REQUIRE_SERVICES is set.
func pgSchemaURL(t *testing.T) string {
	t.Helper()
	return pgtest.SchemaURL(t, "pipe_t_")
}

// clock is a clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// claimedInput is a list whose first row's address another process has
// claimed, then n rows of other addresses.
func claimedInput(n int) []byte {
	var b strings.Builder
	b.WriteString("Email,First Name\nclaimed@held.com,C\n")
	for i := range n {
		fmt.Fprintf(&b, "free%d@open.com,F\n", i)
	}
	return []byte(b.String())
}

// waitFor waits until cond holds (a counter reached), failing the test
// after a generous deadline that only a hang reaches.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestClaimedKeyDoesNotHoldAWorker: with one worker per stage and a key
// that another process has claimed in the shared cache (it is paying for
// it), the run parks that row and goes on with the others: every other
// key is paid while the claim is held, then the claimant's answer is
// served to the parked row without a call.
func TestClaimedKeyDoesNotHoldAWorker(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	other, err := checkpoint.OpenPGCache(ctx, url, checkpoint.DefaultTTLPolicy(), checkpoint.PGCacheOptions{Owner: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if r, err := other.Get(ctx, "verify", "claimed@held.com"); r != nil || err != nil {
		t.Fatalf("the other process's Get should miss and claim: %v, %v", r, err)
	}
	mine, err := checkpoint.OpenPGCache(ctx, url, checkpoint.DefaultTTLPolicy(), checkpoint.PGCacheOptions{Owner: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()

	h := newHarness(t, sandbox.DefaultOptions())
	const free = 20
	cfg, _ := h.config(claimedInput(free), pipeline.Stages{Verify: true})
	cfg.Workers, cfg.Cache, cfg.SharedCache = 1, mine.ForRun(nil), true
	r, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var sum pipeline.Summary
	go func() {
		var err error
		sum, err = r.Run(ctx)
		done <- err
	}()
	// The one worker is not held by the claimed row: every other key is
	// paid for while the claim stands.
	waitFor(t, "the other rows' calls", func() bool { return h.sb.Counters().Sent(sandbox.EpVerify) == free })
	if n := r.Snapshot().Counters[counter.ClaimWaits]; n != 1 {
		t.Errorf("claim_waits = %d, want 1 (the claimed row parked)", n)
	}
	waitFor(t, "a re-check of the claim", func() bool { return r.Snapshot().Counters[counter.ClaimPolls] > 0 })
	select {
	case err := <-done:
		t.Fatalf("the run ended (%v) before the claimed key was answered", err)
	default:
	}
	// The claimant answers: the parked row gets its answer from the cache.
	if err := other.Put(ctx, pipeline.StoredResult{Kind: "verify", Key: "claimed@held.com", Status: "found", Verdict: "deliverable",
		Data: []byte(`{"verification":{"email":"claimed@held.com","verdict":"deliverable"},"origin":"call","for":0}`)}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := h.sb.Counters().Sent(sandbox.EpVerify); n != free {
		t.Errorf("verify calls = %d, want %d (the claimed key is not paid again)", n, free)
	}
	if got := sum.Counters[counter.RowsWritten]; got != free+1 {
		t.Errorf("rows written = %d, want %d", got, free+1)
	}
	if got := sum.Counters[counter.CacheHits]; got != 1 {
		t.Errorf("cache hits = %d, want 1 (the claimant's answer)", got)
	}
}

// TestClaimTakenOverWhenExpired: a claim whose holder never answers (it
// died) is taken over once it expires, and the key is paid once.
func TestClaimTakenOverWhenExpired(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	clk := &clock{now: time.Now()}
	opts := checkpoint.PGCacheOptions{Owner: "dead", Now: clk.Now, ClaimTTL: time.Minute}
	dead, err := checkpoint.OpenPGCache(ctx, url, checkpoint.DefaultTTLPolicy(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := dead.Get(ctx, "verify", "claimed@held.com"); r != nil || err != nil {
		t.Fatalf("the other process's Get should miss and claim: %v, %v", r, err)
	}
	opts.Owner = "mine"
	mine, err := checkpoint.OpenPGCache(ctx, url, checkpoint.DefaultTTLPolicy(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()

	h := newHarness(t, sandbox.DefaultOptions())
	const free = 5
	cfg, _ := h.config(claimedInput(free), pipeline.Stages{Verify: true})
	cfg.Workers, cfg.Cache, cfg.SharedCache = 1, mine.ForRun(nil), true
	r, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx)
		done <- err
	}()
	waitFor(t, "the other rows' calls", func() bool { return h.sb.Counters().Sent(sandbox.EpVerify) == free })
	waitFor(t, "a re-check of the claim", func() bool { return r.Snapshot().Counters[counter.ClaimPolls] > 0 })
	clk.Add(time.Minute) // the claim expires
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := h.sb.Counters().Sent(sandbox.EpVerify); n != free+1 {
		t.Errorf("verify calls = %d, want %d (the claimed key paid once, after the takeover)", n, free+1)
	}
	if n := h.sb.Counters().RepeatedBillable[sandbox.EpVerify]; n != 0 {
		t.Errorf("%d repeated billable calls", n)
	}
	// The answer is shared now: the dead process's successor gets it.
	dead.Close()
	if r, err := mine.Get(ctx, "verify", "claimed@held.com"); err != nil || r == nil {
		t.Errorf("the taken-over key's answer is not in the shared cache: %v, %v", r, err)
	}
}

// failingPut is a shared cache whose writes fail from the first one on, as
// a database that went away after the run opened it. Nothing real makes
// PostgreSQL refuse a write on cue in-process, so the failure is injected;
// the binary's test stops a real one.
type failingPut struct {
	pipeline.Cache
}

func (f failingPut) Put(context.Context, pipeline.StoredResult) error {
	return errors.New("checkpoint: shared cache: write: connection refused")
}

// TestSharedCacheWriteFailureStops: with a shared cache, a Put that fails
// stops the run resumably with the cause, and the row whose answer could
// not be shared is not written; the next run puts the answer the ledger
// kept into the shared cache before writing the row, without paying again.
func TestSharedCacheWriteFailureStops(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	c, err := checkpoint.OpenPGCache(ctx, url, checkpoint.DefaultTTLPolicy(), checkpoint.PGCacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := newHarness(t, sandbox.DefaultOptions())
	input := claimedInput(0) // one row
	cfg, _ := h.config(input, pipeline.Stages{Verify: true})
	cfg.Cache, cfg.SharedCache = failingPut{c.ForRun(nil)}, true
	_, sum, err := run(t, cfg)
	if !errors.Is(err, pipeline.ErrStopped) || !strings.Contains(err.Error(), "shared cache cannot store answers") {
		t.Fatalf("run: %v; want a resumable stop naming the shared cache", err)
	}
	if got := sum.Counters[counter.RowsWritten]; got != 0 {
		t.Errorf("rows written = %d, want 0 (its answer is not shared)", got)
	}
	if n := h.sb.Counters().Sent(sandbox.EpVerify); n != 1 {
		t.Fatalf("verify calls = %d, want 1", n)
	}
	prog, err := h.ledger.Progress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = h.config(input, pipeline.Stages{Verify: true})
	cfg.Cache, cfg.SharedCache = c.ForRun(nil), true
	cfg.Resume = prog
	if _, sum, err = run(t, cfg); err != nil {
		t.Fatal(err)
	}
	if n := h.sb.Counters().Sent(sandbox.EpVerify); n != 1 {
		t.Errorf("verify calls = %d after the resume, want 1 (the ledger's answer)", n)
	}
	if got := sum.Counters[counter.Republished]; got != 1 {
		t.Errorf("cache_republished = %d, want 1", got)
	}
	if r, err := c.Get(ctx, "verify", "claimed@held.com"); err != nil || r == nil {
		t.Errorf("the answer is not in the shared cache after the resume: %v, %v", r, err)
	}
}
