package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// TestSharedServiceUnreachable: a PostgreSQL cache or output that cannot
// be reached at the start is a resumable stop with one line naming it
// (nothing is paid), and rerunning once it is reachable finishes the job;
// a URL that does not parse or names no database is a usage error.
func TestSharedServiceUnreachable(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 20, 0, 0, 1)
	const down = "postgres://127.0.0.1:1/x?sslmode=disable" // nothing listens on port 1
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"cache refused", []string{"--cache", down, "-o", filepath.Join(dir, "a.csv")}, ExitResumable,
			"stopped: cache postgres://127.0.0.1:1/x?sslmode=disable unreachable: connection refused; rerun the same command when it is back"},
		{"output refused", []string{"--no-cache", "-o", down}, ExitResumable,
			"stopped: output postgres://127.0.0.1:1/x?sslmode=disable unreachable: connection refused; rerun the same command when it is back"},
		{"cache url unparsable", []string{"--cache", "postgres://%zz", "-o", filepath.Join(dir, "b.csv")}, ExitUsage, "cannot parse"},
		{"no such database", []string{"--cache", strings.Replace(postgresDSN(t), "/test?", "/no_such_db_batch?", 1), "-o", filepath.Join(dir, "c.csv")}, ExitUsage,
			`database "no_such_db_batch" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBatch(t, em.URL, append([]string{"run", "-i", in, "--verify", "--progress", "none", "--state", filepath.Join(dir, "st-"+strings.ReplaceAll(tc.name, " ", "-"))}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
	if n := em.Counters().Total; n != 0 {
		t.Errorf("runs that could not open their cache or output made %d API calls", n)
	}
	// The stopped job goes on with the same state once the cache is back.
	pg := pgSchema(t)
	r := runBatch(t, em.URL, "run", "-i", in, "--verify", "--progress", "none", "--state", filepath.Join(dir, "st-cache-refused"),
		"--cache", pg, "-o", filepath.Join(dir, "a.csv"))
	if r.code != ExitOK {
		t.Fatalf("rerun with the cache reachable: exit %d\n%s", r.code, r.stderr)
	}
	if got := lineCount(t, filepath.Join(dir, "a.csv")); got != 21 {
		t.Errorf("output has %d lines, want a header and 20 rows", got)
	}
}

// TestSharedCacheWriteFails: the shared cache's table goes away under a
// running job (as a database that stops storing), at a known call: the
// run stops resumably with one line naming the shared cache, the row whose
// answer could not be stored is not done, and the rerun (the table is made
// again) finishes without paying for any key twice: the answers the stopped
// run bought are put into the shared cache from its ledger.
func TestSharedCacheWriteFails(t *testing.T) {
	pg := pgSchema(t)
	db, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sb := sandbox.New(sandbox.DefaultOptions())
	const dropAt = 30
	var (
		calls  atomic.Int64
		mu     sync.Mutex
		victim string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/verify/v1/email" && calls.Add(1) == dropAt {
			// Before this call is answered: its answer cannot be stored.
			if _, err := db.Exec("DROP TABLE batch_cache"); err != nil {
				t.Error(err)
			}
			mu.Lock()
			victim = r.URL.Query().Get("address")
			mu.Unlock()
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { sb.Close(); ts.Close() })
	em := &emulator{Server: sb, URL: ts.URL}

	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 200, 0, 0, 5)
	state := filepath.Join(dir, "state")
	args := []string{"run", "-i", in, "-o", filepath.Join(dir, "out.csv"), "--verify", "--cache", pg, "--state", state, "--progress", "none", "--workers", "2"}
	r := runBatch(t, em.URL, args...)
	if r.code != ExitResumable {
		t.Fatalf("exit %d, want %d\n%s", r.code, ExitResumable, r.stderr)
	}
	if n := strings.Count(r.stderr, "batch: stopped: shared cache cannot store answers"); n != 1 {
		t.Errorf("stderr holds %d cause lines naming the shared cache, want 1:\n%s", n, r.stderr)
	}
	var row int
	if _, err := fmt.Sscanf(victim, "user%d.", &row); err != nil {
		t.Fatalf("victim address %q: %v", victim, err)
	}
	var rep struct {
		RowsCommitted int64 `json:"rows_committed"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(state, "report.json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.RowsCommitted > int64(row) {
		t.Errorf("%d rows done; the row at %d, whose answer could not be stored, must not be", rep.RowsCommitted, row)
	}
	if rep.RowsCommitted == 0 {
		t.Errorf("no row done before the table went away")
	}

	r = runBatch(t, em.URL, args...)
	if r.code != ExitOK {
		t.Fatalf("rerun: exit %d\n%s", r.code, r.stderr)
	}
	if n := em.repeated(); n != 0 {
		t.Errorf("%d billable calls repeated, want 0", n)
	}
	if got := em.requests(sandbox.EpVerify); got != int64(unique) {
		t.Errorf("verify calls = %d, want %d (each address once)", got, unique)
	}
	if got := lineCount(t, filepath.Join(dir, "out.csv")); got != 201 {
		t.Errorf("output has %d lines, want a header and 200 rows", got)
	}
	var republished struct {
		Counters map[string]int64 `json:"counters"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(state, "report.json")), &republished); err != nil {
		t.Fatal(err)
	}
	if republished.Counters["cache_republished"] < 1 {
		t.Errorf("the rerun put no kept answer into the shared cache (counters %v)", republished.Counters)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM batch_cache").Scan(&n); err != nil || n < 1 {
		t.Errorf("shared cache rows after the rerun: %d, %v", n, err)
	}
}
