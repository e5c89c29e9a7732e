package main

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// runAtOnce runs n batch processes at the same time, process i with
// args(i), and returns their results in order.
func runAtOnce(t *testing.T, url string, n int, args func(i int) []string) []result {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runBatch(t, url, args(i)...)
		}()
	}
	wg.Wait()
	return results
}

var requestIDs = regexp.MustCompile(`"request_id":"[^"]*"`)

// shardInput writes a list with duplicates, invalid addresses, rows keyed
// only by LinkedIn or domain, rows with no key and malformed rows.
func shardInput(t *testing.T, path string) (uniqueEmails int) {
	t.Helper()
	uniqueEmails = contactsCSV(t, path, 600, 5, 20, 7)
	var extra bytes.Buffer
	for i := range 30 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&extra, "%d,,Li,Only,Firm,https://www.linkedin.com/in/li-only-%d\n", 9000+i, i)
		case 1:
			fmt.Fprintf(&extra, "%d,,Dom,Only,Firm,https://dom%d.example.org\n", 9000+i, i)
		case 2:
			fmt.Fprintf(&extra, "%d,,No,Key,,\n", 9000+i)
		case 3:
			fmt.Fprintf(&extra, "%d,ragged@row.com,too,few\n", 9000+i)
		case 4:
			fmt.Fprintf(&extra, "%d,late%d@firm1.com,F,L,Firm 1,firm1.com\n", 9000+i, i)
			uniqueEmails++
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(extra.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return uniqueEmails
}

// TestShardsMergeToSingleRun runs one job as three shard processes at once
// and checks that `batch merge` of their files equals one unsharded run's
// output and rejects byte for byte, and that every address is verified by
// exactly one shard.
func TestShardsMergeToSingleRun(t *testing.T) {
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext, func(t *testing.T) {
			em := startEmulator(t, sandbox.DefaultOptions())
			dir := t.TempDir()
			in := filepath.Join(dir, "in.csv")
			unique := shardInput(t, in)
			stages := []string{"--verify", "--enrich-person", "--enrich-org", "--no-cache", "--progress", "none"}

			single := filepath.Join(dir, "single"+ext)
			mustRun(t, em.URL, append([]string{"run", "-i", in, "-o", single}, stages...)...)

			before := em.requests(sandbox.EpVerify)
			results := runAtOnce(t, em.URL, 3, func(i int) []string {
				return append([]string{"run", "-i", in, "-o", filepath.Join(dir, "part-{shard}"+ext), "--shard", fmt.Sprintf("%d/3", i)}, stages...)
			})
			for i, r := range results {
				if r.code != 0 {
					t.Fatalf("shard %d: exit %d\n%s", i, r.code, r.stderr)
				}
			}
			if got := em.requests(sandbox.EpVerify) - before; got != int64(unique) {
				t.Errorf("the shards made %d verify calls, want %d (each unique address once)", got, unique)
			}
			parts := []string{"merge", "-i", in, "-o", filepath.Join(dir, "merged"+ext)}
			for i := range 3 {
				parts = append(parts, filepath.Join(dir, fmt.Sprintf("part-%d%s", i, ext)))
			}
			mustRun(t, em.URL, parts...)
			// JSONL keeps each answer's request id, which the emulator draws
			// afresh for every call: compare without it.
			if !bytes.Equal(requestIDs.ReplaceAll(readFile(t, filepath.Join(dir, "merged"+ext)), nil), requestIDs.ReplaceAll(readFile(t, single), nil)) {
				t.Error("merged output differs from the single run's")
			}
			if !bytes.Equal(readFile(t, filepath.Join(dir, "merged.rejects.csv")), readFile(t, filepath.Join(dir, "single.rejects.csv"))) {
				t.Error("merged rejects differ from the single run's")
			}
			if n := lineCount(t, filepath.Join(dir, "merged.rejects.csv")); n != 1+6 {
				t.Errorf("merged rejects hold %d lines, want a header and 6 rows", n)
			}

			t.Run("parts in the wrong order are refused", func(t *testing.T) {
				p := append([]string{}, parts...)
				p[len(p)-1], p[len(p)-2] = p[len(p)-2], p[len(p)-1]
				p[4] = filepath.Join(dir, "wrong"+ext)
				r := runBatch(t, em.URL, p...)
				if r.code != ExitUsage || !strings.Contains(r.stderr, "parts do not match the input") {
					t.Errorf("exit %d, stderr %q; want %d and a mismatch message", r.code, r.stderr, ExitUsage)
				}
				if _, err := os.Stat(filepath.Join(dir, "wrong"+ext)); !os.IsNotExist(err) {
					t.Errorf("a refused merge left its output behind (%v)", err)
				}
			})
		})
	}
}

func TestShardUsageErrors(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 10, 0, 0, 1)
	out := filepath.Join(dir, "out-{shard}.csv")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad spec", []string{"--shard", "3/3", "-o", out}, nil, "not in 0..2"},
		{"no index", []string{"--shards", "3", "-o", out}, nil, "JOB_COMPLETION_INDEX is not set"},
		{"index out of range", []string{"--shards", "3", "-o", out}, []string{"JOB_COMPLETION_INDEX=3"}, "not in 0..2"},
		{"both flags", []string{"--shards", "3", "--shard", "0/3", "-o", out}, nil, "not both"},
		{"one file for all shards", []string{"--shard", "0/3", "-o", filepath.Join(dir, "out.csv")}, nil, "put {shard} in --output"},
		{"placeholder without shards", []string{"-o", out}, nil, "only expanded in a sharded run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := batchCmd(t, em.URL, append([]string{"run", "-i", in, "--verify", "--no-cache"}, tc.args...)...)
			cmd.Env = append(cmd.Env, tc.env...)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			code := exitStatus(t, cmd.Run())
			if code != ExitUsage || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errb.String(), ExitUsage, tc.want)
			}
		})
	}
	if n := em.Counters().Total; n != 0 {
		t.Errorf("refused runs made %d API calls", n)
	}
}

func TestShardsFromJobCompletionIndex(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 50, 0, 0, 3)
	for i := range 2 {
		cmd := batchCmd(t, em.URL, "run", "-i", in, "-o", filepath.Join(dir, "o-{shard}.csv"), "--shards", "2", "--verify", "--no-cache", "--progress", "none")
		cmd.Env = append(cmd.Env, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, out)
		}
	}
	rows := lineCount(t, filepath.Join(dir, "o-0.csv")) + lineCount(t, filepath.Join(dir, "o-1.csv")) - 2
	if rows != 50 {
		t.Errorf("the two shards wrote %d rows, want 50", rows)
	}
	if got := em.requests(sandbox.EpVerify); got != 50 {
		t.Errorf("verify calls = %d, want 50", got)
	}
}

// pgSchema returns the test database's URL with connections confined to a
// fresh schema (dropped at the end), so that the cache and output tables of
// this test are its own.
func pgSchema(t *testing.T) string {
	t.Helper()
	dsn := postgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "shard_t_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	return dsn + "&search_path=" + schema
}

// TestShardsSharePostgres is a Kubernetes Indexed Job on one machine: three
// shards at once, with a duplicate of one index running beside it (two pods
// of one index), share answers and output in PostgreSQL; one shard is killed
// with SIGKILL and restarted on an empty state directory, as a rescheduled
// pod would be. The table equals a single run's, and the emulator bills
// each key once but for calls in flight at the kill.
func TestShardsSharePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	pg := pgSchema(t)
	opts := sandbox.DefaultOptions()
	opts.AsyncFraction, opts.AsyncDelay = 0.3, 200*time.Millisecond
	opts.Latency = 5 * time.Millisecond
	em := startEmulator(t, opts)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	shardInput(t, in)
	stages := []string{"--verify", "--enrich-person", "--enrich-org", "--progress", "none", "--workers", "4"}

	ref := startEmulator(t, opts)
	mustRun(t, ref.URL, append([]string{"run", "-i", in, "-o", pg, "--table", "single", "--no-cache", "--state", filepath.Join(dir, "state-single")}, stages...)...)
	want := dumpPostgres(t, pg, "single")

	shardArgs := func(i int, state string) []string {
		return append([]string{"run", "-i", in, "-o", pg, "--table", "sharded", "--cache", pg, "--claim-ttl", "3s",
			"--shard", fmt.Sprintf("%d/3", i), "--state", filepath.Join(dir, state)}, stages...)
	}
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 2 {
				return // started below, to be killed
			}
			idx, state := i, fmt.Sprintf("state-%d", i)
			if i == 3 {
				idx, state = 1, "state-1-twin" // a second pod of index 1
			}
			results[i] = runBatch(t, em.URL, shardArgs(idx, state)...)
		}()
	}
	victim := batchCmd(t, em.URL, shardArgs(2, "state-2")...)
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); em.Counters().Total < 150 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	victim.Process.Signal(syscall.SIGKILL)
	victim.Wait()
	wg.Wait()
	for i, r := range results {
		if i != 2 && r.code != 0 {
			t.Fatalf("shard process %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	// The rescheduled pod: same index, empty disk.
	mustRun(t, em.URL, shardArgs(2, "state-2-new")...)

	got := dumpPostgres(t, pg, "sharded")
	if got != want {
		t.Errorf("the shards' table differs from a single run's:\n got %.600s\nwant %.600s", got, want)
	}
	// Each shard process holds at most 4 calls per stage in flight.
	if rep := em.repeated(); rep > 3*4 {
		t.Errorf("%d billable calls repeated; want at most the 12 in flight at the kill", rep)
	}
	t.Logf("billable %d (single run %d), repeated %d", em.billable(), ref.billable(), em.repeated())
}

// TestShardKeys: with several keys in --api-key-file, shard I uses key
// I mod K (the emulator accepts one key only, so only its shard gets
// through), and no key reaches an output or the state.
func TestShardKeys(t *testing.T) {
	keys := []string{"shard-key-aaaa-0000", "shard-key-bbbb-1111", "shard-key-cccc-2222"}
	opts := sandbox.DefaultOptions()
	opts.APIKey = keys[0]
	em := startEmulator(t, opts)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 40, 0, 0, 5)
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("# one account's keys\n"+strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{ExitOK, ExitResumable, ExitResumable, ExitOK} {
		r := runBatch(t, em.URL, "run", "-i", in, "-o", filepath.Join(dir, "o-{shard}.csv"), "--shard", fmt.Sprintf("%d/4", i),
			"--api-key-file", keyFile, "--verify", "--no-cache", "--progress", "none")
		if r.code != want {
			t.Errorf("shard %d/4 (key %d): exit %d, want %d\n%s", i, i%3, r.code, want, r.stderr)
		}
		for _, k := range keys {
			if strings.Contains(r.stderr, k) || strings.Contains(r.stdout, k) {
				t.Errorf("shard %d printed an API key", i)
			}
		}
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == keyFile {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, k := range keys {
			if bytes.Contains(b, []byte(k)) {
				t.Errorf("%s holds an API key", p)
			}
		}
		return nil
	})
}

// TestShardsShareBudget: with a shared cache, --max-calls is one budget for
// the job's shards: three shards at once never make more calls than it
// allows in all, and stop resumably when it is spent; raising it lets them
// finish.
func TestShardsShareBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	pg := pgSchema(t)
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 400, 0, 0, 11)
	run := func(maxCalls int) []result {
		return runAtOnce(t, em.URL, 3, func(i int) []string {
			return []string{"run", "-i", in, "-o", filepath.Join(dir, "o-{shard}.csv"), "--shard", fmt.Sprintf("%d/3", i),
				"--verify", "--cache", pg, "--max-calls", fmt.Sprint(maxCalls), "--progress", "none", "--workers", "4"}
		})
	}
	for i, r := range run(90) {
		if r.code != ExitResumable && r.code != ExitOK {
			t.Fatalf("shard %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	if got := em.requests(sandbox.EpVerify); got > 90 || got < 90-3*lookupPoolBlock {
		t.Errorf("the shards made %d calls under a job budget of 90", got)
	}
	// Calls reserved for lookups that were in flight when the budget ran
	// out count against it (a cap errs on the side of never exceeding):
	// raise it by what three shards of 4 workers can hold besides.
	for i, r := range run(unique + 3*lookupPoolBlock) {
		if r.code != ExitOK {
			t.Fatalf("shard %d after raising the budget: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	if got := em.requests(sandbox.EpVerify); got < int64(unique) || got > int64(unique)+3*4 {
		t.Errorf("verify calls = %d in all, want %d (each address once) plus at most the 12 in flight at the stop", got, unique)
	}
}

// lookupPoolBlock is lookup.PoolBlock: a shard killed or stopped may leave
// up to one block unused.
const lookupPoolBlock = 16
