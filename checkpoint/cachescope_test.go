package checkpoint_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
)

func TestCacheScopeAndPurge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	c := openCache(t, path, checkpoint.DefaultTTLPolicy())
	a := c.ForRun(checkpoint.CacheScope{"verify": "api=a", "person": "api=a", "organization": "api=a"})
	b := c.ForRun(checkpoint.CacheScope{"verify": "api=b"})
	put := func(pc pipeline.Cache, kind pipeline.Kind, key string) {
		t.Helper()
		if err := pc.Put(ctx, pipeline.StoredResult{Kind: kind, Key: key, Status: "ok", Verdict: "deliverable"}); err != nil {
			t.Fatal(err)
		}
	}
	has := func(pc pipeline.Cache, kind pipeline.Kind, key string) bool {
		t.Helper()
		r, err := pc.Get(ctx, kind, key)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil && r.Key != key {
			t.Fatalf("Get(%s) returned key %q", key, r.Key)
		}
		return r != nil
	}
	put(a, pipeline.KindVerify, "ann@acme.com")
	put(a, pipeline.KindPerson, "email:ann@acme.com")
	put(a, pipeline.KindOrg, "domain:acme.com")
	put(a, pipeline.KindVerify, "bob@acme.com")
	put(b, pipeline.KindVerify, "ann@acme.com")
	put(a, pipeline.KindVerify, "eve@other.org")
	if !has(a, pipeline.KindVerify, "ann@acme.com") || !has(b, pipeline.KindVerify, "ann@acme.com") {
		t.Fatal("a scoped answer is not served to its own scope")
	}
	if has(b, pipeline.KindVerify, "bob@acme.com") || has(c.ForRun(nil), pipeline.KindVerify, "bob@acme.com") {
		t.Fatal("an answer of scope a is served to another scope")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openCache(t, path, checkpoint.DefaultTTLPolicy())
	a = c.ForRun(checkpoint.CacheScope{"verify": "api=a", "person": "api=a", "organization": "api=a"})
	n, err := c.Purge(ctx, " Ann@ACME.com", "")
	if err != nil || n != 3 {
		t.Fatalf("Purge(email) = %d, %v, want 3 (verify in two scopes, person)", n, err)
	}
	if has(a, pipeline.KindVerify, "ann@acme.com") || has(a, pipeline.KindPerson, "email:ann@acme.com") {
		t.Fatal("a purged answer is still served")
	}
	if !has(a, pipeline.KindVerify, "bob@acme.com") {
		t.Fatal("purging ann removed bob")
	}
	n, err = c.Purge(ctx, "", "ACME.com")
	if err != nil || n != 2 {
		t.Fatalf("Purge(domain) = %d, %v, want 2 (bob, the organization)", n, err)
	}
	if !has(a, pipeline.KindVerify, "eve@other.org") {
		t.Fatal("purging acme.com removed other.org")
	}
}

// A cache made before scopes and subjects is migrated: its entries, which
// no run could be served again, are deleted.
func TestCacheMigratesUnscopedEntries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	c := openCache(t, path, checkpoint.DefaultTTLPolicy())
	c.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP INDEX cache_subj`, `DROP INDEX cache_dom`, `ALTER TABLE cache DROP COLUMN subj`, `ALTER TABLE cache DROP COLUMN dom`,
		`INSERT INTO cache (k, kind, status, verdict, fetched, expires, sum) VALUES (x'01', 'verify', 'ok', 'deliverable', 0, 9223372036854775807, 0)`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	c = openCache(t, path, checkpoint.DefaultTTLPolicy())
	c.Close()
	db, _ = sql.Open("sqlite", path)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM cache`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("entries after migration: %d, %v; want 0", n, err)
	}
}
