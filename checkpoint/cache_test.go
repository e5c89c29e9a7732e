package checkpoint_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
	"github.com/google/go-cmp/cmp"
)

func openCache(t *testing.T, path string, ttl checkpoint.TTLPolicy) *checkpoint.Cache {
	t.Helper()
	c, err := checkpoint.OpenCache(context.Background(), path, ttl)
	if err != nil {
		t.Fatalf("OpenCache(%s) = %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCacheRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache", "results.db")
	c := openCache(t, path, checkpoint.DefaultTTLPolicy())
	now := time.Now().UTC().Truncate(time.Second)
	rs := []pipeline.StoredResult{
		{Kind: "verify", Key: "ann@example.com", Status: "ok", Verdict: "deliverable", Data: json.RawMessage(`{"v":1}`), FetchedAt: now},
		{Kind: "organization", Key: "example.com", Status: "found", Verdict: "found", Data: json.RawMessage(`{"o":1}`), FetchedAt: now},
	}
	for _, r := range rs {
		if err := c.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Visible before the flush, and after a reopen.
	for _, reopen := range []bool{false, true} {
		if reopen {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c = openCache(t, path, checkpoint.DefaultTTLPolicy())
		}
		for _, want := range rs {
			got, err := c.Get(ctx, want.Kind, want.Key)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("Get(%s, %s), reopened %v (-want +got):\n%s", want.Kind, want.Key, reopen, diff)
			}
		}
		if got, err := c.Get(ctx, "person", "ann@example.com"); got != nil || err != nil {
			t.Errorf("Get(absent) = %v, %v, want nil, nil", got, err)
		}
	}
	c.Close()
	// Keys at rest are HMACs (RELIABILITY G1); the secret sits beside the file.
	for _, name := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(name)
		if bytes.Contains(b, []byte("ann@example.com")) {
			t.Errorf("%s holds a raw key", name)
		}
	}
	if b, err := os.ReadFile(path + ".secret"); err != nil || len(bytes.TrimSpace(b)) != 64 {
		t.Errorf("secret file: %q, %v", b, err)
	}
}

func TestCacheTTL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	ttl := checkpoint.DefaultTTLPolicy()
	c := openCache(t, path, ttl)
	t0 := time.Now().UTC().Add(-365 * 24 * time.Hour).Truncate(time.Second)
	clock := t0
	c.Now = func() time.Time { return clock }
	for _, v := range []string{"deliverable", "not_found", "unknown", "risky_new_verdict", "pending"} {
		if err := c.Put(ctx, pipeline.StoredResult{Kind: "verify", Key: v, Verdict: v}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		after time.Duration
		live  []string
	}{
		{0, []string{"deliverable", "not_found", "unknown", "risky_new_verdict"}},
		{23 * time.Hour, []string{"deliverable", "not_found", "unknown", "risky_new_verdict"}},
		{24 * time.Hour, []string{"deliverable", "not_found", "risky_new_verdict"}},
		{7*24*time.Hour - 1, []string{"deliverable", "not_found", "risky_new_verdict"}},
		{7 * 24 * time.Hour, []string{"deliverable", "risky_new_verdict"}},
		{30 * 24 * time.Hour, nil},
	}
	for _, flushed := range []bool{false, true} {
		if flushed {
			c.Close()
			c = openCache(t, path, ttl) // t0 is long past: the open purges everything
			c.Now = func() time.Time { return clock }
		}
		for _, tt := range tests {
			clock = t0.Add(tt.after)
			var live []string
			for _, v := range []string{"deliverable", "not_found", "unknown", "risky_new_verdict", "pending"} {
				r, err := c.Get(ctx, "verify", v)
				if err != nil {
					t.Fatal(err)
				}
				if r != nil {
					live = append(live, v)
				}
			}
			want := tt.live
			if flushed {
				want = nil
			}
			if !cmp.Equal(want, live) {
				t.Errorf("after %v (flushed %v): live = %v, want %v", tt.after, flushed, live, want)
			}
		}
	}
}

func TestCachePurgeAtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	c := openCache(t, path, checkpoint.DefaultTTLPolicy())
	now := time.Now()
	c.Put(ctx, pipeline.StoredResult{Kind: "verify", Key: "old", Verdict: "deliverable", FetchedAt: now.Add(-31 * 24 * time.Hour)})
	c.Put(ctx, pipeline.StoredResult{Kind: "verify", Key: "new", Verdict: "deliverable", FetchedAt: now.Add(-time.Hour)})
	c.Close()
	sizeWith := countRows(t, path)
	c = openCache(t, path, checkpoint.DefaultTTLPolicy())
	c.Close()
	if got := countRows(t, path); sizeWith != 2 || got != 1 {
		t.Fatalf("rows before/after reopen = %d/%d, want 2/1", sizeWith, got)
	}
}

// countRows counts cache entries with a raw SQLite connection.
func countRows(t *testing.T, path string) int {
	t.Helper()
	db, err := openRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM cache`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCacheShared has two handles on one file (as two processes would) put
// and get concurrently.
func TestCacheShared(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	a := openCache(t, path, checkpoint.DefaultTTLPolicy())
	b := openCache(t, path, checkpoint.DefaultTTLPolicy())
	var wg sync.WaitGroup
	for g := range 8 {
		c := []*checkpoint.Cache{a, b}[g%2]
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("%d-%d", g, i)
				if err := c.Put(ctx, pipeline.StoredResult{Kind: "verify", Key: key, Verdict: "deliverable", Data: json.RawMessage(`1`)}); err != nil {
					t.Error(err)
					return
				}
				if r, err := c.Get(ctx, "verify", key); err != nil || r == nil {
					t.Errorf("Get(%s) right after Put = %v, %v", key, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c := openCache(t, path, checkpoint.DefaultTTLPolicy())
	for g := range 8 {
		for i := range 200 {
			if r, err := c.Get(ctx, "verify", fmt.Sprintf("%d-%d", g, i)); err != nil || r == nil {
				t.Fatalf("Get(%d-%d) after reopen = %v, %v", g, i, r, err)
			}
		}
	}
}

func TestCacheSecretSharedAcrossOpens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	var wg sync.WaitGroup
	caches := make([]*checkpoint.Cache, 4)
	for i := range caches {
		wg.Go(func() {
			c, err := checkpoint.OpenCache(ctx, path, checkpoint.DefaultTTLPolicy())
			if err != nil {
				t.Error(err)
				return
			}
			caches[i] = c
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	caches[0].Put(ctx, pipeline.StoredResult{Kind: "verify", Key: "k", Verdict: "deliverable"})
	caches[0].Close()
	for _, c := range caches[1:] {
		if r, _ := c.Get(ctx, "verify", "k"); r == nil {
			t.Error("a cache opened concurrently uses another secret")
		}
		c.Close()
	}
}
