package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// shards: 3 shard processes, each with its own API key, vs 1 process,
// against an emulator that limits requests per API key (the way a
// provider's per-key limit bounds one process however many workers it has).
func (b *bench) shards(ctx context.Context) ([]result, error) {
	const n, perKey, k = 1200, 20.0, 3
	in := b.path("shards.csv")
	if err := writeUnique(in, n); err != nil {
		return nil, err
	}
	keys := []string{"bench-shard-key-0", "bench-shard-key-1", "bench-shard-key-2"}
	keyFile := b.path("shards.keys")
	if err := os.WriteFile(keyFile, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	oneKey := b.path("shards.key")
	if err := os.WriteFile(oneKey, []byte(keys[0]+"\n"), 0o600); err != nil {
		return nil, err
	}
	opts := sandbox.Options{Seed: int64(b.seed), Latency: 30 * time.Millisecond, RateLimit: perKey, RateScope: sandbox.RateKey}

	// One process, one key.
	e, err := startEmulator(opts)
	if err != nil {
		return nil, err
	}
	st := b.path("shards-single.state")
	single, err := runner{bin: b.bin, url: e.url}.mustExit(ctx, exitOK, runArgs(in, b.path("shards-single.csv"), st, "--verify", "--api-key-file", oneKey)...)
	c1 := e.sb.Counters()
	e.close()
	if err != nil {
		return nil, err
	}

	// Three shards at once, key I each.
	e, err = startEmulator(opts)
	if err != nil {
		return nil, err
	}
	r := runner{bin: b.bin, url: e.url}
	out := b.path("shards-{shard}.csv")
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, k)
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.mustExit(ctx, exitOK, runArgs(in, out, b.path(fmt.Sprintf("shards-%d.state", i)),
				"--verify", "--api-key-file", keyFile, "--shard", fmt.Sprintf("%d/%d", i, k))...)
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	c3 := e.sb.Counters()
	e.close()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	r1, r3 := rate(n, single.Wall), rate(n, wall)
	ratio := r3 / r1
	// Billable events of the sharded run vs the single run's (the same
	// answers: unknown verdicts are not billed), and none repeated.
	billed := float64(sum(c3.Billable)) / float64(max(1, sum(c1.Billable)))
	b.logf("1 process: %.1f rows/s (%s, %d 429s); %d shards: %.1f rows/s (%s, %d 429s); billable %d (single run %d)",
		r1, secs(single.Wall), c1.Faults["429"], k, r3, secs(wall), c3.Faults["429"], sum(c3.Billable), sum(c1.Billable))
	return []result{{
		What:    "scale-out",
		Figure:  fmt.Sprintf("%d shards %.1f rows/s vs 1 process %.1f rows/s; billable %d vs %d, %d repeated", k, r3, r1, sum(c3.Billable), sum(c1.Billable), sum(c3.RepeatedBillable)),
		Ratio:   fmt.Sprintf("%.2f× (billed %.3f)", ratio, billed),
		Target:  "≥ 2.7×; billed = 1.0",
		Verdict: verdict(ratio >= 2.7 && billed == 1 && sum(c3.RepeatedBillable) == 0),
		Note: fmt.Sprintf("%d distinct addresses, --verify, emulator rate limit %.0f req/s per API key (token bucket), 30 ms latency, no --rate; "+
			"%d keys in --api-key-file, shard I uses key I; rows/s = rows / whole-process wall time (the slowest shard for the sharded run)", n, perKey, k),
	}}, nil
}
