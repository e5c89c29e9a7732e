package checkpoint_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
)

// TestLedgerPurge: purged answers read as never answered, in the log and
// after a reopen; other answers stay; a pending person lookup of a purged
// key loses its handle; purging again finds nothing.
func TestLedgerPurge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := startedLedger(t, dir)
	for _, r := range []pipeline.StoredResult{
		{Kind: "verify", Key: "ann@example.com", Status: "found", Verdict: "deliverable", Data: json.RawMessage(`{"a":1}`)},
		{Kind: "person", Key: "email:ann@example.com", Status: "found", Verdict: "found", Data: json.RawMessage(`{"p":2}`)},
		{Kind: "verify", Key: "bob@example.com", Status: "found", Verdict: "deliverable", Data: json.RawMessage(`{"b":3}`)},
	} {
		if err := l.PutResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.PutPending(ctx, pipeline.Pending{Kind: "person", Handle: "h1", Keys: []string{"email:ann@example.com"}}); err != nil {
		t.Fatal(err)
	}
	keys := []checkpoint.LookupKey{{Kind: "verify", Key: "ann@example.com"}, {Kind: "person", Key: "email:ann@example.com"}}
	n, err := l.Purge(ctx, keys)
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	check := func(l *checkpoint.Ledger) {
		t.Helper()
		for _, k := range keys {
			if r, err := l.Result(ctx, k.Kind, k.Key); err != nil || r != nil {
				t.Errorf("Result(%s %s) after purge = %+v, %v; want none", k.Kind, k.Key, r, err)
			}
		}
		if r, err := l.Result(ctx, "verify", "bob@example.com"); err != nil || r == nil {
			t.Errorf("an answer not purged is gone: %v, %v", r, err)
		}
		if ps, err := l.Pending(ctx); err != nil || len(ps) != 0 {
			t.Errorf("pending handles after purge: %v, %v; want none", ps, err)
		}
	}
	check(l)
	if n, err := l.Purge(ctx, keys); err != nil || n != 0 {
		t.Errorf("second Purge = %d, %v; want 0", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(openLedger(t, dir))
}

// TestPGCachePurge: an address's answers go under every scope, a
// domain's take its contacts and the organization, others stay.
func TestPGCachePurge(t *testing.T) {
	url := pgSchemaURL(t)
	ctx := context.Background()
	c := openPG(t, url, checkpoint.PGCacheOptions{Owner: "a"})
	put := func(kind, key string) {
		t.Helper()
		if err := c.Put(ctx, pipeline.StoredResult{Kind: pipeline.Kind(kind), Key: key, Status: "found", Verdict: "found", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	put("verify", "scope-1\x00ann@acme.com")
	put("verify", "scope-2\x00ann@acme.com")
	put("person", "scope-1\x00email:ann@acme.com")
	put("verify", "scope-1\x00bob@acme.com")
	put("organization", "scope-1\x00domain:acme.com")
	put("verify", "scope-1\x00cy@other.com")
	if n, err := c.Purge(ctx, "Ann@Acme.com", ""); err != nil || n != 3 {
		t.Fatalf("Purge(email) = %d, %v; want 3", n, err)
	}
	if r, err := c.Get(ctx, "verify", "scope-2\x00ann@acme.com"); err != nil || r != nil {
		t.Errorf("a purged answer is still served: %v, %v", r, err)
	}
	if n, err := c.Purge(ctx, "", "acme.com"); err != nil || n != 2 {
		t.Fatalf("Purge(domain) = %d, %v; want 2 (bob and the organization)", n, err)
	}
	if r, err := c.Get(ctx, "verify", "scope-1\x00cy@other.com"); err != nil || r == nil {
		t.Errorf("an answer of another domain is gone: %v, %v", r, err)
	}
	if _, err := c.Purge(ctx, "", ""); err == nil {
		t.Error("Purge with no selector succeeded")
	}
}
