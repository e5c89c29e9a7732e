package main

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/customeros/sandbox"
)

// readRows reads a generated CSV input.
func readRows(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestWriteDupes checks the calls row's ground truth against the tool's own
// local checks: the counts of distinct valid, repeated and invalid
// addresses are what the row divides by.
func TestWriteDupes(t *testing.T) {
	tests := []struct {
		n, dup, inv int
	}{
		{2000, 40, 5},
		{1000, 10, 2},
		{100, 0, 0},
	}
	chk := contact.NewChecker()
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "in.csv")
		d, err := writeDupes(path, tt.n, tt.dup, tt.inv, 7)
		if err != nil {
			t.Fatal(err)
		}
		recs := readRows(t, path)
		if len(recs) != tt.n+1 {
			t.Fatalf("n=%d: %d records, want %d", tt.n, len(recs), tt.n+1)
		}
		valid := map[string]int{}
		invalid, ids := 0, map[string]bool{}
		for _, rec := range recs[1:] {
			ids[rec[0]] = true
			e := contact.NormalizeEmail(rec[1])
			if chk.Check(e).Valid {
				valid[e]++
			} else {
				invalid++
			}
		}
		repeats := 0
		for _, c := range valid {
			repeats += c - 1
		}
		if len(ids) != tt.n {
			t.Errorf("n=%d: %d distinct ids, want %d", tt.n, len(ids), tt.n)
		}
		if len(valid) != d.Unique || repeats != d.Duplicates || invalid != d.Invalid {
			t.Errorf("n=%d: checker sees %d distinct valid, %d repeats, %d invalid; generator says %+v",
				tt.n, len(valid), repeats, invalid, d)
		}
	}
}

// TestPersonAt checks that generated addresses are distinct, valid and
// already normalized.
func TestPersonAt(t *testing.T) {
	chk := contact.NewChecker()
	seen := map[string]bool{}
	for i := range 5000 {
		e := personAt(i).Email
		if seen[e] {
			t.Fatalf("personAt(%d) repeats %q", i, e)
		}
		seen[e] = true
		if n := contact.NormalizeEmail(e); n != e {
			t.Errorf("personAt(%d) = %q, normalizes to %q", i, e, n)
		}
		if c := chk.Check(e); !c.Valid || c.Role || c.Disposable || c.Free {
			t.Errorf("personAt(%d) = %q: checks %+v", i, e, c)
		}
	}
}

func TestWritePoolAndResume(t *testing.T) {
	dir := t.TempDir()
	distinct, err := writePool(filepath.Join(dir, "pool.csv"), 3000, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	recs := readRows(t, filepath.Join(dir, "pool.csv"))
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		seen[rec[1]] = true
	}
	if len(recs) != 3001 || distinct != len(seen) || distinct > 50 {
		t.Errorf("pool: %d records, %d distinct reported, %d seen", len(recs), distinct, len(seen))
	}

	if err := writeResume(filepath.Join(dir, "resume.csv"), 100, 90); err != nil {
		t.Fatal(err)
	}
	recs = readRows(t, filepath.Join(dir, "resume.csv"))
	for i, rec := range recs[1:] {
		if (rec[1] == "") != (i < 90) {
			t.Fatalf("resume row %d: email %q", i, rec[1])
		}
	}
}

func TestCompareOutputs(t *testing.T) {
	ref := "id,email,v\nr1,a,x\nr2,b,y\nr3,c,z\n"
	tests := []struct {
		name      string
		got       string
		lost, dup int
		identical bool
	}{
		{"same", ref, 0, 0, true},
		{"lost", "id,email,v\nr1,a,x\nr3,c,z\n", 1, 0, false},
		{"duplicated", "id,email,v\nr1,a,x\nr2,b,y\nr2,b,y\nr3,c,z\n", 0, 1, false},
		{"extra row", "id,email,v\nr1,a,x\nr2,b,y\nr3,c,z\nr9,q,q\n", 0, 1, false},
		{"reordered", "id,email,v\nr2,b,y\nr1,a,x\nr3,c,z\n", 0, 0, false},
		{"quoted newline", "id,email,v\nr1,a,x\nr2,\"b\nb\",y\nr3,c,z\n", 0, 0, false},
		{"empty", "", 3, 0, false},
	}
	dir := t.TempDir()
	refPath := filepath.Join(dir, "ref.csv")
	if err := os.WriteFile(refPath, []byte(ref), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".csv")
			if err := os.WriteFile(p, []byte(tt.got), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := compareOutputs(refPath, p)
			if err != nil {
				t.Fatal(err)
			}
			if c.Lost != tt.lost || c.Duplicated != tt.dup || c.Identical != tt.identical {
				t.Errorf("compareOutputs = %+v, want lost %d dup %d identical %v", c, tt.lost, tt.dup, tt.identical)
			}
		})
	}
}

func TestSlope(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var lin []sample
	for i := range 40 {
		lin = append(lin, sample{at: t0.Add(time.Duration(i) * 250 * time.Millisecond), rows: int64(i * 50)})
	}
	tests := []struct {
		name    string
		samples []sample
		lo, hi  int64
		want    float64
		used    int
	}{
		{"linear 200/s", lin, 0, 10000, 200, 40},
		{"middle only", lin, 400, 1600, 200, 25},
		{"none in range", lin, 5000, 6000, 0, 0},
	}
	for _, tt := range tests {
		got, used := slope(tt.samples, tt.lo, tt.hi)
		if used != tt.used || got < tt.want-1e-6 || got > tt.want+1e-6 {
			t.Errorf("%s: slope = %v over %d samples, want %v over %d", tt.name, got, used, tt.want, tt.used)
		}
	}
}

// TestEmulator checks the wrapper: counters, timestamps, the tracked path
// and the per-second timeline, and that mark zeroes them.
func TestEmulator(t *testing.T) {
	e, err := startEmulator(sandbox.Options{Seed: 1, RateLimit: 1, RateBurst: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	e.track = "/verify/v1/email"
	get := func(path string) int {
		req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-CUSTOMER-OS-API-KEY", "bench")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if _, ok := e.firstRequest(); ok {
		t.Fatal("firstRequest before any request")
	}
	codes := []int{get("/verify/v1/email?address=jane.doe@acme.com"), get("/verify/v1/email?address=john.doe@acme.com")}
	if codes[0] != http.StatusOK || codes[1] != http.StatusTooManyRequests {
		t.Fatalf("statuses %v, want [200 429]", codes)
	}
	c := e.sb.Counters()
	if got := c.Sent(sandbox.EpVerify); got != 2 {
		t.Errorf("verify requests = %d, want 2", got)
	}
	first, last, ok := e.window()
	if !ok || last.Before(first) {
		t.Errorf("window = %v, %v, %v", first, last, ok)
	}
	if e.trackWindow() < 0 {
		t.Errorf("trackWindow = %v", e.trackWindow())
	}
	if got := strings.Join(e.perSecondOK429(), " "); got != "1/1" && got != "1/0 0/1" {
		t.Errorf("perSecondOK429 = %q, want 1/1 (or split over a second)", got)
	}
	e.mark()
	if _, ok := e.firstRequest(); ok || e.sb.Counters().Total != 0 || len(e.perSecondOK429()) != 0 {
		t.Errorf("mark left state: total %d, timeline %v", e.sb.Counters().Total, e.perSecondOK429())
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnop", "q"} {
		tb.Write([]byte(s))
	}
	if got := tb.String(); got != "jklmnopq" {
		t.Errorf("tail = %q, want %q", got, "jklmnopq")
	}
}

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"missing binary", []string{"-bin", filepath.Join(t.TempDir(), "nope")}, 2},
		{"bad flag", []string{"-nope"}, 2},
		{"unknown row", []string{"-bin", os.Args[0], "-only", "calls,nope"}, 2},
	}
	for _, tt := range tests {
		var out, errb strings.Builder
		if got := run(tt.args, &out, &errb); got != tt.want {
			t.Errorf("%s: run = %d, want %d; stderr %s", tt.name, got, tt.want, errb.String())
		}
	}
}

// TestRowsEndToEnd builds batch and measures the cheap rows with it, so
// the bench's own plumbing (emulator, child processes, exit codes, status
// polling) is exercised; the verdicts are not asserted (no timing checks).
func TestRowsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs batch")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "batch")
	build := exec.Command("go", "build", "-o", bin, "../batch")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b := &bench{bin: bin, dir: dir, seed: 1, log: io.Discard}
	for _, m := range []func(context.Context) ([]result, error){b.calls, b.resume} {
		res, err := m(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Verdict != pass && r.Verdict != fail {
				t.Errorf("%s: verdict %q", r.What, r.Verdict)
			}
			t.Logf("%s | %s | %s | %s", r.What, r.Figure, r.Ratio, r.Verdict)
		}
	}
}

func TestGCTrace(t *testing.T) {
	g := &gcTrace{}
	lines := "gc 1 @0.010s 1%: 0.012+0.50+0.003 ms clock, 0.02+0.1/0.4/0+0.006 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"other output\ngc 2 @0.030s 1%: 0.01+0.4+0.002 ms clock, 0.02+0.1/0.3/0+0.004 ms cpu, 8->9->23 MB, 9 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"gc 3 @0.050s 1%: 0.01+0.4+0.002 ms clock, 0.02+0.1/0.3/0+0.004 ms cpu, 30->31->12 MB, 40 MB goal, 0 MB stacks, 0 MB globals, 2 P"
	// Written in pieces that split lines.
	for i := 0; i < len(lines); i += 37 {
		if _, err := g.Write([]byte(lines[i:min(i+37, len(lines))])); err != nil {
			t.Fatal(err)
		}
	}
	g.Write([]byte("\n"))
	if live, cycles := g.peak(); live != 23 || cycles != 3 {
		t.Errorf("peak live %v MB over %d cycles, want 23 over 3", live, cycles)
	}
}
