package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

var update = flag.Bool("update", false, "rewrite golden files")

// binPath is the batch binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "batch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "batch")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build batch:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// emulator is an in-process sandbox on loopback.
type emulator struct {
	*sandbox.Server
	URL string
}

func startEmulator(t *testing.T, opts sandbox.Options) *emulator {
	t.Helper()
	s := sandbox.New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	return &emulator{Server: s, URL: ts.URL}
}

// billable sums the emulator's billable events.
func (e *emulator) billable() int64 {
	var n int64
	for _, v := range e.Counters().Billable {
		n += v
	}
	return n
}

func (e *emulator) requests(ep string) int64 { return e.Counters().Sent(ep) }

func (e *emulator) repeated() int64 {
	var n int64
	for _, v := range e.Counters().RepeatedBillable {
		n += v
	}
	return n
}

// result is one finished invocation of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// batchCmd prepares the binary against the emulator at url. Every run uses
// its own cache directory unless args set --cache or --no-cache.
func batchCmd(t *testing.T, url string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(),
		"CUSTOMEROS_API_KEY=test-key",
		"CUSTOMEROS_API_URL="+url,
		"XDG_CACHE_HOME="+t.TempDir(),
		"HOME="+t.TempDir(),
	)
	return cmd
}

func runBatch(t *testing.T, url string, args ...string) result {
	t.Helper()
	cmd := batchCmd(t, url, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := exitStatus(t, cmd.Run())
	return result{code, out.String(), errb.String()}
}

// exitStatus is a finished command's exit code: 0, the code, or -1 when a
// signal killed it. Any other failure to run ends the test.
func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return 0
}

// lineCount counts the lines of a file.
func lineCount(t *testing.T, path string) int {
	t.Helper()
	return bytes.Count(readFile(t, path), []byte("\n"))
}

func mustRun(t *testing.T, url string, args ...string) result {
	t.Helper()
	r := runBatch(t, url, args...)
	if r.code != 0 {
		t.Fatalf("batch %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (rerun with -update if intended)\ngot:\n%s", name, got)
	}
}

type reportFile struct {
	Status        string           `json:"status"`
	RowsCommitted int64            `json:"rows_committed"`
	RowsReadNow   int64            `json:"rows_read_this_run"`
	PaidCallsNow  int64            `json:"paid_calls_this_run"`
	Counters      map[string]int64 `json:"counters"`
}

func readReport(t *testing.T, path string) reportFile {
	t.Helper()
	var r reportFile
	if err := json.Unmarshal(readFile(t, path), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMessyCSVGolden runs the binary over the messy demo list (BOM, CRLF,
// quoted newlines, aliased headers, duplicates, ragged rows, bad quotes,
// invalid emails) with every stage and compares outputs with golden files.
func TestMessyCSVGolden(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.AsyncFraction = 0.3
	opts.AsyncDelay = 200 * time.Millisecond
	em := startEmulator(t, opts)
	dir := t.TempDir()
	out := filepath.Join(dir, "contacts.csv")
	mustRun(t, em.URL, "run", "-i", "../../testdata/contacts.csv", "-o", out,
		"--verify", "--enrich-person", "--enrich-org", "--no-cache", "--progress", "none")
	golden(t, "contacts.csv", readFile(t, out))
	golden(t, "contacts.rejects.csv", readFile(t, filepath.Join(dir, "contacts.rejects.csv")))

	rep := readReport(t, out+".state/report.json")
	if rep.Status != "finished" {
		t.Errorf("report status = %q", rep.Status)
	}
	written, rejected := rep.Counters["rows_written"], rep.Counters["rows_rejected"]
	if written+rejected != rep.RowsReadNow || rep.RowsReadNow != 24 {
		t.Errorf("written %d + rejected %d != read %d (want 24 read)", written, rejected, rep.RowsReadNow)
	}
	if rejected != 3 {
		t.Errorf("rejected = %d, want 3", rejected)
	}

	// JSONL of the same run nests the API results.
	jl := filepath.Join(dir, "contacts.jsonl")
	mustRun(t, em.URL, "run", "-i", "../../testdata/contacts.csv", "-o", jl,
		"--verify", "--enrich-person", "--enrich-org", "--no-cache", "--progress", "none")
	lines := bytes.Split(bytes.TrimSpace(readFile(t, jl)), []byte("\n"))
	if len(lines) != 21 {
		t.Fatalf("jsonl lines = %d, want 21", len(lines))
	}
	var first map[string]json.RawMessage
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"line", "input", "verification", "person", "organization", "result"} {
		if _, ok := first[k]; !ok {
			t.Errorf("jsonl row lacks %q: %s", k, lines[0])
		}
	}
}

// contactsCSV writes n rows with a unique id column; dupEvery-th rows reuse
// an earlier address and invalidEvery-th rows have a broken one.
func contactsCSV(t *testing.T, path string, n, dupEvery, invalidEvery int, seed uint64) (unique int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"id", "Email", "First Name", "Last Name", "Company", "Website"})
	seen := map[string]bool{}
	for i := range n {
		email := fmt.Sprintf("user%d.p%d@firm%d.com", i, rng.IntN(1000), i%97)
		switch {
		case invalidEvery > 0 && i%invalidEvery == 0:
			email = fmt.Sprintf("broken-%d-at-firm.com", i)
		case dupEvery > 0 && i > 0 && i%dupEvery == 0:
			email = fmt.Sprintf("USER%d.p0@FIRM%d.com ", i/2, (i/2)%97)
		}
		norm := strings.ToLower(strings.TrimSpace(email))
		if strings.Contains(norm, "@") {
			seen[norm] = true
		}
		w.Write([]string{fmt.Sprint(i), email, "First", "Last", fmt.Sprintf("Firm %d", i%97), fmt.Sprintf("firm%d.com", i%97)})
	}
	w.Flush()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return len(seen)
}

func TestRerunAndCache(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, in, 1000, 5, 20, 1)
	cache := filepath.Join(dir, "cache.db")
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--cache", cache, "--progress", "none"}
	mustRun(t, em.URL, args...)
	if got := em.requests(sandbox.EpVerify); got != int64(unique) {
		t.Errorf("verify calls = %d, want %d unique valid addresses", got, unique)
	}
	first := readFile(t, out)

	t.Run("finished job makes no call and changes nothing", func(t *testing.T) {
		before := em.Counters().Total
		mustRun(t, em.URL, args...)
		if after := em.Counters().Total; after != before {
			t.Errorf("rerun made %d calls", after-before)
		}
		if !bytes.Equal(readFile(t, out), first) {
			t.Error("rerun changed the output")
		}
	})
	t.Run("second run over the same input is answered by the cache", func(t *testing.T) {
		before := em.Counters().Total
		out2 := filepath.Join(dir, "out2.csv")
		mustRun(t, em.URL, "run", "-i", in, "-o", out2, "--verify", "--cache", cache, "--progress", "none")
		if after := em.Counters().Total; after != before {
			t.Errorf("cached run made %d calls", after-before)
		}
		if !bytes.Equal(readFile(t, out2), first) {
			t.Error("cached run's output differs from the paid run's")
		}
	})
	t.Run("5% new rows cost exactly the new keys", func(t *testing.T) {
		data := readFile(t, in)
		var extra bytes.Buffer
		newKeys := 0
		for i := range 50 {
			fmt.Fprintf(&extra, "%d,fresh%d@newfirm.com,F,L,New,newfirm.com\n", 100000+i, i)
			newKeys++
		}
		in3 := filepath.Join(dir, "in3.csv")
		if err := os.WriteFile(in3, append(data, extra.Bytes()...), 0o644); err != nil {
			t.Fatal(err)
		}
		before := em.requests(sandbox.EpVerify)
		mustRun(t, em.URL, "run", "-i", in3, "-o", filepath.Join(dir, "out3.csv"), "--verify", "--cache", cache, "--progress", "none")
		if got := em.requests(sandbox.EpVerify) - before; got != int64(newKeys) {
			t.Errorf("calls = %d, want %d (the new keys)", got, newKeys)
		}
	})
	t.Run("estimate agrees with the run", func(t *testing.T) {
		fresh := filepath.Join(dir, "fresh-cache.db")
		r := mustRun(t, em.URL, "estimate", "-i", in, "--verify", "--enrich-org", "--cache", fresh, "--json")
		var est struct {
			TotalCalls int64 `json:"total_calls"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &est); err != nil {
			t.Fatalf("estimate output %q: %v", r.stdout, err)
		}
		v0, o0 := em.requests(sandbox.EpVerify), em.requests(sandbox.EpOrganization)
		mustRun(t, em.URL, "run", "-i", in, "-o", filepath.Join(dir, "out4.csv"), "--verify", "--enrich-org", "--cache", fresh, "--progress", "none")
		got := em.requests(sandbox.EpVerify) - v0 + em.requests(sandbox.EpOrganization) - o0
		if got != est.TotalCalls {
			t.Errorf("run made %d calls, estimate said %d", got, est.TotalCalls)
		}
	})
}

// TestCrashResume kills the binary with SIGKILL at 20+ seeded random
// points, reruns it until it exits 0, and checks that the output equals an
// uninterrupted run's byte for byte and that repeated billable calls stay
// within what was in flight at each kill.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	// xlsx writes a workbook; xlsx-in reads the list from a workbook.
	for _, sink := range []string{"csv", "sqlite", "postgres", "xlsx", "xlsx-in"} {
		t.Run(sink, func(t *testing.T) { crashResume(t, sink) })
	}
}

func crashResume(t *testing.T, sink string) {
	opts := sandbox.DefaultOptions()
	opts.Latency = 2 * time.Millisecond
	opts.AsyncFraction = 0.2
	opts.AsyncDelay = 300 * time.Millisecond
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 9000, 4, 25, 7)
	if sink == "xlsx-in" {
		in = csvToXLSX(t, in)
	}
	const workers = 8
	dsn := ""
	if sink == "postgres" {
		dsn = postgresDSN(t)
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	output := func(name string) string {
		switch sink {
		case "sqlite":
			return "sqlite://" + filepath.Join(dir, name+".db")
		case "postgres":
			return dsn
		case "xlsx":
			return filepath.Join(dir, name+".xlsx")
		}
		return filepath.Join(dir, name+".csv")
	}
	args := func(out, state string) []string {
		a := []string{"run", "-i", in, "-o", out, "--state", state, "--verify", "--enrich-person", "--enrich-org",
			"--no-cache", "--workers", fmt.Sprint(workers), "--progress", "none"}
		if sink == "postgres" {
			a = append(a, "--table", "crash_"+filepath.Base(state)[:3]+"_"+suffix)
		}
		return a
	}

	ref := startEmulator(t, opts)
	refOut := output("ref")
	mustRun(t, ref.URL, args(refOut, filepath.Join(dir, "ref.state"))...)

	em := startEmulator(t, opts)
	out, state := output("crash"), filepath.Join(dir, "crash.state")
	rng := rand.New(rand.NewPCG(42, uint64(len(sink))))
	kills := 0
	for kills < 20 {
		cmd := batchCmd(t, em.URL, args(out, state)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if exitStatus(t, err) == -1 {
			kills++
			continue
		}
		if err != nil {
			t.Fatalf("run before kill %d failed: %v\n%s", kills, err, errb.String())
		}
		break // finished before the kill landed
	}
	mustRun(t, em.URL, args(out, state)...)
	t.Logf("%d kills; emulator: %d requests, repeated billable %v", kills, em.Counters().Total, em.Counters().RepeatedBillable)
	if kills < 20 {
		t.Errorf("only %d kills landed before the job finished; make the job longer", kills)
	}
	if sink == "xlsx" {
		if got, want := xlsxRows(t, out), xlsxRows(t, refOut); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("workbook after %d kills differs from the uninterrupted run (%d vs %d rows)", kills, len(got), len(want))
		}
	} else if sink == "csv" || sink == "xlsx-in" {
		got, want := readFile(t, out), readFile(t, refOut)
		if !bytes.Equal(got, want) {
			gotRows, wantRows := bytes.Count(got, []byte("\n")), bytes.Count(want, []byte("\n"))
			t.Fatalf("output after %d kills differs from the uninterrupted run (%d vs %d lines)", kills, gotRows, wantRows)
		}
	} else {
		var got, want string
		if sink == "sqlite" {
			got, want = dumpSQLite(t, out), dumpSQLite(t, refOut)
		} else {
			got = dumpPostgres(t, dsn, "crash_cra_"+suffix)
			want = dumpPostgres(t, dsn, "crash_ref_"+suffix)
		}
		if got != want {
			t.Fatalf("table after %d kills differs from the uninterrupted run:\n%.2000s\nwant:\n%.2000s", kills, got, want)
		}
	}
	// The job's counters equal the uninterrupted run's: answers bought are
	// counted with the rows they were bought for, whatever the kills.
	refRep, rep := readReport(t, filepath.Join(dir, "ref.state", "report.json")), readReport(t, filepath.Join(state, "report.json"))
	for k, want := range refRep.Counters {
		if strings.HasPrefix(k, "rows_") || strings.HasPrefix(k, "verdict_") || strings.HasPrefix(k, "calls_") ||
			k == "dedupe_hits" || k == "cache_hits" {
			if got := rep.Counters[k]; got != want {
				t.Errorf("counter %s after %d kills = %d, uninterrupted run = %d", k, kills, got, want)
			}
		}
	}
	// Each kill can lose at most the calls in flight: workers per stage.
	if rep, limit := em.repeated(), int64(kills*workers*3); rep > limit {
		t.Errorf("repeated billable calls = %d, want <= %d (%d kills x %d in flight)", rep, limit, kills, workers*3)
	}
}

func TestStopsResumablyOnAuthAndCredits(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 300, 0, 0, 3)

	t.Run("401", func(t *testing.T) {
		opts := sandbox.DefaultOptions()
		opts.APIKey = "the-right-key"
		em := startEmulator(t, opts)
		out := filepath.Join(dir, "auth.csv")
		r := runBatch(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none")
		if r.code != ExitResumable {
			t.Fatalf("exit = %d, want %d\n%s", r.code, ExitResumable, r.stderr)
		}
		if strings.Contains(r.stderr, "test-key") {
			t.Error("the API key appears on stderr")
		}
		if n := em.requests(sandbox.EpVerify); n > 16*2 {
			t.Errorf("%d calls after a 401, want at most the in-flight ones", n)
		}
		cmd := batchCmd(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none")
		cmd.Env = append(cmd.Env, "CUSTOMEROS_API_KEY=the-right-key")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("resume with the right key: %v\n%s", err, b)
		}
		if got := lineCount(t, out); got != 301 {
			t.Errorf("output lines = %d, want 301", got)
		}
	})
	t.Run("402", func(t *testing.T) {
		opts := sandbox.DefaultOptions()
		opts.Credits = 100
		em := startEmulator(t, opts)
		out := filepath.Join(dir, "credits.csv")
		args := []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none"}
		r := runBatch(t, em.URL, args...)
		if r.code != ExitResumable {
			t.Fatalf("exit = %d, want %d\n%s", r.code, ExitResumable, r.stderr)
		}
		paid := em.billable()
		// Top up: a new emulator account with no credit cap.
		em2 := startEmulator(t, sandbox.DefaultOptions())
		mustRun(t, em2.URL, args...)
		if got := lineCount(t, out); got != 301 {
			t.Errorf("output lines = %d, want 301", got)
		}
		if total := paid + em2.billable(); total > 300+16 {
			t.Errorf("billable events = %d for 300 addresses", total)
		}
	})
}

func TestMaxCalls(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 200, 0, 0, 5)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none", "--max-calls", "50"}
	r := runBatch(t, em.URL, args...)
	if r.code != ExitResumable {
		t.Fatalf("exit = %d, want %d\n%s", r.code, ExitResumable, r.stderr)
	}
	if n := em.requests(sandbox.EpVerify); n > 50 {
		t.Errorf("verify calls = %d, want <= 50", n)
	}
	for range 10 {
		if em.requests(sandbox.EpVerify) >= 200 {
			break
		}
		r := runBatch(t, em.URL, args...)
		if r.code == 0 {
			break
		}
		if r.code != ExitResumable {
			t.Fatalf("exit = %d\n%s", r.code, r.stderr)
		}
	}
	mustRun(t, em.URL, args...)
	if n := em.requests(sandbox.EpVerify); n != 200 {
		t.Errorf("verify calls over all runs = %d, want 200", n)
	}
}

func TestInterruptAndResume(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.Latency = 20 * time.Millisecond
	em := startEmulator(t, opts)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 2000, 0, 0, 9)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none", "--workers", "8"}
	cmd := batchCmd(t, em.URL, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt a run under way: once a tenth of the addresses were asked.
	for deadline := time.Now().Add(30 * time.Second); em.requests(sandbox.EpVerify) < 200; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run made too few calls")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); exitStatus(t, err) != ExitResumable {
		t.Fatalf("after SIGINT: %v, want exit %d\n%s", err, ExitResumable, errb.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a stopped run published its output")
	}
	paid := em.billable()
	t.Run("second process on the same state is refused", func(t *testing.T) {
		holder := batchCmd(t, em.URL, args...)
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { holder.Process.Kill(); holder.Wait() }()
		// Wait until the holder works (it holds the lock from then on).
		before := em.Counters().Total
		for deadline := time.Now().Add(5 * time.Second); em.Counters().Total == before; {
			if time.Now().After(deadline) {
				t.Fatal("the first process made no call")
			}
			time.Sleep(5 * time.Millisecond)
		}
		r := runBatch(t, em.URL, args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "lock") {
			t.Fatalf("second process: exit %d, want %d with a lock message\n%s", r.code, ExitUsage, r.stderr)
		}
	})
	mustRun(t, em.URL, args...)
	if got := lineCount(t, out); got != 2001 {
		t.Errorf("output lines = %d, want 2001", got)
	}
	if rep := em.repeated(); rep > 16 {
		t.Errorf("repeated billable calls after SIGINT + resume = %d (paid before resume: %d)", rep, paid)
	}
}

func TestRefusesChangedInput(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 50, 0, 0, 11)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none"}
	mustRun(t, em.URL, args...)
	contactsCSV(t, in, 60, 0, 0, 12)
	r := runBatch(t, em.URL, args...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--restart") {
		t.Fatalf("changed input: exit %d, want %d with a --restart hint\n%s", r.code, ExitUsage, r.stderr)
	}
	r = runBatch(t, em.URL, append(args, "--enrich-org")...)
	if r.code != ExitUsage {
		t.Fatalf("changed options: exit %d, want %d\n%s", r.code, ExitUsage, r.stderr)
	}
	mustRun(t, em.URL, append(args, "--restart")...)
	if got := lineCount(t, out); got != 61 {
		t.Errorf("output lines after --restart = %d, want 61", got)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("foo,bar\n1,2\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"run", "-i", bad, "--verify"}, "--output"},
		{"unmappable header", []string{"run", "-i", bad, "-o", filepath.Join(dir, "o.csv"), "--verify"}, "email"},
		{"missing input", []string{"run", "-i", filepath.Join(dir, "nope.csv"), "-o", filepath.Join(dir, "o2.csv"), "--verify"}, "nope.csv"},
		{"unknown output format", []string{"run", "-i", bad, "-o", filepath.Join(dir, "o.parquet"), "--map", "foo=email"}, "parquet"}, // .xlsx is an output now
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBatch(t, "http://127.0.0.1:1", tt.args...)
			if r.code != ExitUsage || !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(tt.want)) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, ExitUsage, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 100, 3, 10, 13)
	out := filepath.Join(dir, "out.csv")
	mustRun(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none")
	r := mustRun(t, em.URL, "status", "--state", out+".state", "--json")
	var v struct {
		Finished  bool  `json:"finished"`
		RowsDone  int64 `json:"rows_done"`
		PaidCalls int64 `json:"paid_calls"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("status output %q: %v", r.stdout, err)
	}
	if !v.Finished || v.RowsDone != 100 || v.PaidCalls != em.billable() {
		t.Errorf("status = %+v, want finished, 100 rows, %d paid (billed by the emulator)", v, em.billable())
	}
}

// dumpSQLite renders a SQLite output table without its timestamps, ordered
// by row, for comparison.
func dumpSQLite(t *testing.T, url string) string {
	t.Helper()
	return sqliteDump(context.Background(), t, strings.TrimPrefix(url, "sqlite://"))
}

// TestKeyNeverLeaks runs jobs with a canary API key — one that succeeds,
// one that the API rejects — and scans everything the tool wrote.
func TestKeyNeverLeaks(t *testing.T) {
	const canary = "CANARY_7f3a9c2e51b84d06a1e2f3c4d5b6a798"
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 200, 5, 20, 21)
	var outputs []string
	for _, tc := range []struct {
		name string
		key  string // the key the emulator accepts
		code int
	}{{"accepted", "", 0}, {"rejected", "another-key", ExitResumable}} {
		opts := sandbox.DefaultOptions()
		opts.APIKey = tc.key
		opts.AsyncFraction = 0.5
		opts.AsyncDelay = 50 * time.Millisecond
		opts.Fail503 = 0.05
		em := startEmulator(t, opts)
		out := filepath.Join(dir, tc.name+".jsonl")
		cmd := batchCmd(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--enrich-person", "--enrich-org",
			"--cache", filepath.Join(dir, tc.name+"-cache.db"), "--log-format", "json", "--progress", "log")
		cmd.Env = append(cmd.Env, "CUSTOMEROS_API_KEY="+canary)
		b, err := cmd.CombinedOutput()
		if code := exitStatus(t, err); code != tc.code {
			t.Fatalf("%s: exit %d, want %d\n%s", tc.name, exitStatus(t, err), tc.code, b)
		}
		outputs = append(outputs, string(b))
	}
	for _, o := range outputs {
		if strings.Contains(o, canary[:12]) {
			t.Errorf("the API key appears in the tool's output:\n%s", o)
		}
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if bytes.Contains(readFile(t, path), []byte(canary[:12])) {
			t.Errorf("the API key appears in %s", path)
		}
		return nil
	})
}

// TestCorruptLedgerIsReported damages a stopped job's ledger and checks
// that the rerun refuses with a clear error instead of starting over.
func TestCorruptLedgerIsReported(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 300, 0, 0, 31)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none", "--max-calls", "100"}
	if r := runBatch(t, em.URL, args...); r.code != ExitResumable {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		name   string
		damage func(db string) error
	}{
		{"truncated to zero", func(db string) error { return os.Truncate(db, 0) }},
		{"deleted", func(db string) error {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(db + suffix)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(dir, tc.name+".state")
			if err := os.CopyFS(state, os.DirFS(out+".state")); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(filepath.Join(state, "ledger.db")); err != nil {
				t.Fatal(err)
			}
			before := em.Counters().Total
			r := runBatch(t, em.URL, append(args, "--state", state)...)
			if r.code != ExitFailed || !strings.Contains(r.stderr, "corrupt") {
				t.Errorf("exit %d, want %d with a corruption message\n%s", r.code, ExitFailed, r.stderr)
			}
			if n := em.Counters().Total - before; n != 0 {
				t.Errorf("%d calls made from a corrupt ledger", n)
			}
		})
	}
}

// TestStdinResume resumes a job read from stdin when the same data is piped
// in again, and refuses different data instead of mixing the two.
func TestStdinResume(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in, other := filepath.Join(dir, "in.csv"), filepath.Join(dir, "other.csv")
	contactsCSV(t, in, 300, 0, 0, 41)
	contactsCSV(t, other, 300, 0, 0, 42)
	out := filepath.Join(dir, "out.csv")
	pipe := func(path string, extra ...string) result {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := batchCmd(t, em.URL, append([]string{"run", "-i", "-", "-o", out, "--verify", "--no-cache", "--progress", "none"}, extra...)...)
		cmd.Stdin = f
		var errb bytes.Buffer
		cmd.Stderr = &errb
		return result{code: exitStatus(t, cmd.Run()), stderr: errb.String()}
	}
	if r := pipe(in, "--max-calls", "100"); r.code != ExitResumable {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	if r := pipe(other); r.code != ExitUsage || !strings.Contains(r.stderr, "--restart") {
		t.Fatalf("different data on stdin: exit %d, want %d with a --restart hint\n%s", r.code, ExitUsage, r.stderr)
	}
	if r := pipe(in); r.code != 0 {
		t.Fatalf("resume with the same data: exit %d\n%s", r.code, r.stderr)
	}
	if got := lineCount(t, out); got != 301 {
		t.Errorf("output lines = %d, want 301", got)
	}
	if n := em.requests(sandbox.EpVerify); n != 300 {
		t.Errorf("verify calls = %d, want 300 (none repeated)", n)
	}
	// A finished stdin job fed new data is refused, not silently skipped.
	if r := pipe(other); r.code != ExitUsage {
		t.Fatalf("new data after a finished job: exit %d, want %d\n%s", r.code, ExitUsage, r.stderr)
	}
}

// TestBulkJobSurvivesKill kills a bulk-mode run after its upload and checks
// that the rerun polls the same job instead of uploading (paying) again.
func TestBulkJobSurvivesKill(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.BulkDelay = 1500 * time.Millisecond
	em := startEmulator(t, opts)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 400, 5, 0, 51)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--verify-mode", "bulk", "--no-cache", "--progress", "none"}
	cmd := batchCmd(t, em.URL, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); em.requests(sandbox.EpBulkSubmit) == 0; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no bulk upload")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The job id is durable before the first poll: kill once it is polled.
	for deadline := time.Now().Add(10 * time.Second); em.requests(sandbox.EpBulkStatus) == 0; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the bulk job was never polled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	uploads := em.requests(sandbox.EpBulkSubmit)
	mustRun(t, em.URL, args...)
	if got := em.requests(sandbox.EpBulkSubmit); got != uploads {
		t.Errorf("uploads after the rerun = %d, want %d (the job is polled, not uploaded again)", got, uploads)
	}
	if n := em.requests(sandbox.EpVerify); n != 0 {
		t.Errorf("%d single verify calls in bulk mode", n)
	}
	if got := lineCount(t, out); got != 401 {
		t.Errorf("output lines = %d, want 401", got)
	}
	if rep := em.repeated(); rep != 0 {
		t.Errorf("repeated billable = %d, want 0", rep)
	}
}
