package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/pipeline"
)

// purgeList is a small list with the contact to purge (in a spelling the
// run normalizes), a colleague at the same domain and others elsewhere.
const purgeList = `Email,First Name,Last Name,Company,Website
Jane.Doe@Acme-Purge.com,Jane,Doe,Acme,acme-purge.com
bob@acme-purge.com,Bob,Roe,Acme,acme-purge.com
carl@other-firm.com,Carl,Poe,Other,other-firm.com
dana@third-firm.com,Dana,Zoe,Third,third-firm.com
`

// tableRows counts a table's rows through driver at dsn.
func tableRows(t *testing.T, driver, dsn, table string) int {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPurge: `batch purge --email` removes the contact's answers from the
// local cache, a job's ledger and a PostgreSQL shared cache (counted in
// each store, and printed); a later run pays for that contact again and
// for no one else; `--domain` removes a domain's answers; usage errors exit
// 2 and change nothing.
func TestPurge(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(purgeList), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache.db")
	pg := pgSchema(t)
	stages := []string{"--verify", "--enrich-person", "--enrich-org", "--progress", "none"}
	job := func(name, cacheFlag string) []string {
		return append([]string{"run", "-i", in, "-o", filepath.Join(dir, name+".csv"), "--state", filepath.Join(dir, name), "--cache", cacheFlag}, stages...)
	}
	mustRun(t, em.URL, job("local", cache)...)
	mustRun(t, em.URL, job("shared", pg)...)
	localBefore := tableRows(t, "sqlite", cache, "cache")
	pgBefore := tableRows(t, "pgx", pg, "batch_cache")

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no selector", nil, "needs --email ADDRESS or --domain DOMAIN"},
		{"bad address", []string{"--email", "jane.doe-at-acme"}, "not a valid email address"},
		{"both", []string{"--email", "bob@acme-purge.com", "--domain", "acme-purge.com"}, "not both"},
		{"bad domain", []string{"--domain", "localhost"}, "is not a domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBatch(t, em.URL, append([]string{"purge", "--cache", cache}, tc.args...)...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, ExitUsage, tc.want)
			}
		})
	}
	if n := tableRows(t, "sqlite", cache, "cache"); n != localBefore {
		t.Fatalf("refused purges changed the cache: %d entries, had %d", n, localBefore)
	}

	// The contact: its verification and person answers, everywhere.
	r := mustRun(t, em.URL, "purge", "--email", " <JANE.DOE@acme-purge.com> ", "--cache", cache, "--state", filepath.Join(dir, "local"))
	for _, want := range []string{
		"purged jane.doe@acme-purge.com: 2 answers from state " + filepath.Join(dir, "local"),
		"purged jane.doe@acme-purge.com: 2 answers from cache " + cache,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("purge printed %q; want %q", r.stdout, want)
		}
	}
	r = mustRun(t, em.URL, "purge", "--email", "jane.doe@acme-purge.com", "--cache", pg)
	if !strings.Contains(r.stdout, "2 answers from cache postgres://") || strings.Contains(r.stdout, "test-key") {
		t.Errorf("purge of the shared cache printed %q", r.stdout)
	}
	if n := tableRows(t, "sqlite", cache, "cache"); n != localBefore-2 {
		t.Errorf("local cache: %d entries after the purge, want %d", n, localBefore-2)
	}
	if n := tableRows(t, "pgx", pg, "batch_cache"); n != pgBefore-2 {
		t.Errorf("shared cache: %d entries after the purge, want %d", n, pgBefore-2)
	}
	// The ledger no longer answers for the contact, and still does for others.
	ctx := context.Background()
	l, err := checkpoint.OpenReadOnly(ctx, filepath.Join(dir, "local"))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"jane.doe@acme-purge.com": false, "bob@acme-purge.com": true} {
		got, err := l.Result(ctx, pipeline.KindVerify, key)
		if err != nil || (got != nil) != want {
			t.Errorf("ledger verify answer for %s: %v, %v; want present=%v", key, got, err, want)
		}
	}
	if got, err := l.Result(ctx, pipeline.KindPerson, "email:jane.doe@acme-purge.com"); err != nil || got != nil {
		t.Errorf("ledger person answer for the purged contact: %v, %v", got, err)
	}
	l.Close()
	// The ledger files hold the address's answer no more.
	filepath.WalkDir(filepath.Join(dir, "local"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(strings.ToLower(string(readFile(t, p))), "jane.doe@acme-purge.com") {
			t.Errorf("%s still holds the purged address", p)
		}
		return nil
	})

	// A new job over the same caches pays for the purged contact again,
	// and for no one else.
	before := em.Counters()
	mustRun(t, em.URL, job("again-local", cache)...)
	mustRun(t, em.URL, job("again-shared", pg)...)
	after := em.Counters()
	for _, ep := range []string{sandbox.EpVerify, sandbox.EpPerson} {
		if got := after.Sent(ep) - before.Sent(ep); got != 2 {
			t.Errorf("%s calls after the purge: %d, want 2 (the purged contact, once per cache)", ep, got)
		}
	}
	if got := after.Sent(sandbox.EpOrganization) - before.Sent(sandbox.EpOrganization); got != 0 {
		t.Errorf("organization calls after an email purge: %d, want 0", got)
	}

	// A domain: every answer about its contacts, and the organization's.
	localBefore = tableRows(t, "sqlite", cache, "cache")
	r = mustRun(t, em.URL, "purge", "--domain", "ACME-Purge.com", "--cache", cache, "--state", filepath.Join(dir, "local"))
	if !strings.Contains(r.stdout, "purged domain acme-purge.com: 1 answers from state") {
		t.Errorf("domain purge printed %q", r.stdout)
	}
	// jane's and bob's verify and person answers, and the organization.
	if n := tableRows(t, "sqlite", cache, "cache"); n != localBefore-5 {
		t.Errorf("local cache: %d entries after the domain purge, want %d", n, localBefore-5)
	}
}
