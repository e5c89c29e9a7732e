package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"os"

	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/internal/s3test"
)

// part renders rows [from, to) of a contact list with a header.
func part(from, to int) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"id", "Email", "Company"})
	for i := from; i < to; i++ {
		w.Write([]string{fmt.Sprint(i), fmt.Sprintf("lead%d@org%d.com", i, i%31), fmt.Sprintf("Org %d", i%31)})
	}
	w.Flush()
	return b.Bytes()
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write(data)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestS3PrefixRoundTrip reads a prefix of three objects (one gzipped) from
// S3, writes the result back to S3, and compares it with the same data read
// from and written to local files.
func TestS3PrefixRoundTrip(t *testing.T) {
	s3 := s3test.Start(t, "contacts")
	em := startEmulator(t, sandbox.DefaultOptions())
	s3.Put(t, "contacts", "drop/a.csv", part(0, 300))
	s3.Put(t, "contacts", "drop/b.csv.gz", gzipped(t, part(300, 600)))
	s3.Put(t, "contacts", "drop/c.csv", part(600, 900))

	dir := t.TempDir()
	local := filepath.Join(dir, "all.csv")
	os.WriteFile(local, part(0, 900), 0o644)
	localOut := filepath.Join(dir, "local-out.csv")
	mustRun(t, em.URL, "run", "-i", local, "-o", localOut, "--verify", "--enrich-org", "--cache", filepath.Join(dir, "c1.db"), "--progress", "none")

	mustRun(t, em.URL, "run", "-i", s3.URL("contacts", "drop/"), "-o", s3.URL("contacts", "results/out.csv"), "--state", filepath.Join(dir, "s3.state"),
		"--verify", "--enrich-org", "--cache", filepath.Join(dir, "c2.db"), "--progress", "none")
	got, want := s3.Get(t, "contacts", "results/out.csv"), readFile(t, localOut)
	if !bytes.Equal(got, want) {
		t.Errorf("S3 output (%d bytes) differs from the local run's (%d bytes)", len(got), len(want))
	}
}

// TestS3KillResumesWithRangedGET kills a run in the middle of a large
// object and checks that the rerun continues with a ranged GET and that the
// output has every row exactly once.
func TestS3KillResumesWithRangedGET(t *testing.T) {
	s3 := s3test.Start(t, "contacts")
	opts := sandbox.DefaultOptions()
	opts.Latency = 3 * time.Millisecond
	em := startEmulator(t, opts)
	const rows = 6000
	s3.Put(t, "contacts", "big/contacts.csv", part(0, rows))
	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", s3.URL("contacts", "big/contacts.csv"), "-o", out, "--verify", "--no-cache", "--progress", "none", "--workers", "8"}

	cmd := batchCmd(t, em.URL, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Let it commit part of the object, then kill it.
	for deadline := time.Now().Add(20 * time.Second); em.requests(sandbox.EpVerify) < rows/3; {
		if time.Now().After(deadline) {
			t.Fatalf("no progress\n%s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	if err := cmd.Wait(); exitStatus(t, err) != -1 {
		t.Fatalf("run was not killed: %v", err)
	}
	before := len(s3.Gets())
	mustRun(t, em.URL, args...)
	resumed := s3.Gets()[before:]
	ranged := false
	for _, g := range resumed {
		if strings.HasPrefix(g, "/contacts/big/contacts.csv bytes=") && !strings.HasSuffix(g, "bytes=0-") {
			ranged = true
		}
		if g == "/contacts/big/contacts.csv " {
			t.Errorf("the rerun read the object from the start: %q", resumed)
		}
	}
	if !ranged {
		t.Errorf("the rerun made no ranged GET: %q", resumed)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs[1:] {
		seen[r[0]]++
	}
	lost, dup := 0, 0
	for i := range rows {
		switch seen[fmt.Sprint(i)] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	if lost != 0 || dup != 0 || len(recs)-1 != rows {
		t.Errorf("rows lost %d, duplicated %d, output rows %d (want %d)", lost, dup, len(recs)-1, rows)
	}
}

// TestS3Workbook reads an .xlsx object (the corpus workbook) from S3 and
// checks the output equals the same workbook read from a local file.
func TestS3Workbook(t *testing.T) {
	s3 := s3test.Start(t, "contacts")
	em := startEmulator(t, sandbox.DefaultOptions())
	local := filepath.Join(corpusDir, "contacts.xlsx")
	s3.Put(t, "contacts", "in/contacts.xlsx", readFile(t, local))
	dir := t.TempDir()
	localOut, s3Out := filepath.Join(dir, "local.csv"), filepath.Join(dir, "s3.csv")
	mustRun(t, em.URL, "run", "-i", local, "-o", localOut, "--verify", "--no-cache", "--progress", "none")
	mustRun(t, em.URL, "run", "-i", s3.URL("contacts", "in/contacts.xlsx"), "-o", s3Out, "--verify", "--no-cache", "--progress", "none")
	if got, want := readFile(t, s3Out), readFile(t, localOut); !bytes.Equal(got, want) || len(want) == 0 {
		t.Errorf("S3 workbook output (%d bytes) differs from the local one's (%d bytes)", len(got), len(want))
	}
}

// TestS3InputOutage takes the input's storage down, first before the run
// starts and then in the middle of its read: each is a resumable stop
// (exit 3) with one line that says what to do, and when the storage is back
// the same command finishes with the output a run without the outage
// writes, paying for no key twice.
func TestS3InputOutage(t *testing.T) {
	s3 := s3test.Start(t, "contacts")
	em := startEmulator(t, sandbox.DefaultOptions())
	const rows = 4000
	data := part(0, rows)
	s3.Put(t, "contacts", "in/contacts.csv", data)
	dir := t.TempDir()
	local := filepath.Join(dir, "local.csv")
	os.WriteFile(local, data, 0o644)
	want := filepath.Join(dir, "want.csv")
	good := startEmulator(t, sandbox.DefaultOptions())
	mustRun(t, good.URL, "run", "-i", local, "-o", want, "--verify", "--no-cache", "--progress", "none")
	paidGood := good.billable()

	out, state := filepath.Join(dir, "out.csv"), filepath.Join(dir, "out.state")
	args := []string{"run", "-i", s3.URL("contacts", "in/contacts.csv"), "-o", out, "--state", state, "--verify", "--no-cache", "--progress", "none", "--workers", "4"}

	s3.SetDown(true)
	r := runBatch(t, em.URL, args...)
	if r.code != 3 || !strings.Contains(r.stderr, "unreachable") || !strings.Contains(r.stderr, "rerun the same command when it is back") {
		t.Fatalf("storage down from the start: exit %d, want 3 with the cause\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("a start stopped before any row left a state directory behind: %v", err)
	}
	if n := em.billable(); n != 0 {
		t.Errorf("storage down from the start: %d calls billed, want 0", n)
	}

	s3.SetDown(false)
	s3.CutNextThenDown("contacts", "in/contacts.csv", len(data)/2)
	r = runBatch(t, em.URL, args...)
	if r.code != 3 || !strings.Contains(r.stderr, "unreachable") || !strings.Contains(r.stderr, "rerun the same command when it is back") {
		t.Fatalf("storage down mid-read: exit %d, want 3 with the cause\n%s", r.code, r.stderr)
	}
	t.Logf("stderr of the run stopped mid-read:\n%s", r.stderr)
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a stopped run published its output")
	}

	s3.SetDown(false)
	mustRun(t, em.URL, args...)
	if got, w := readFile(t, out), readFile(t, want); !bytes.Equal(got, w) {
		t.Errorf("output after the outage (%d bytes) differs from a run without it (%d bytes)", len(got), len(w))
	}
	if rep := em.repeated(); rep != 0 {
		t.Errorf("%d keys billed twice across the outage", rep)
	}
	if paid := em.billable(); paid != paidGood {
		t.Errorf("the run across the outage was billed %d calls, a run without it %d", paid, paidGood)
	}
}
