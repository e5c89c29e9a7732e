package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// runCounts runs the binary without API stages over in and returns the
// report's written and rejected counts and the reject file.
func runCounts(t *testing.T, in string, extra ...string) (written, rejected int64, rejects string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	mustRun(t, "http://127.0.0.1:1", append([]string{"run", "-i", in, "-o", out, "--no-cache", "--progress", "none"}, extra...)...)
	rep := readReport(t, out+".state/report.json")
	if rep.Counters["rows_written"]+rep.Counters["rows_rejected"] != rep.RowsReadNow {
		t.Errorf("written %d + rejected %d != read %d", rep.Counters["rows_written"], rep.Counters["rows_rejected"], rep.RowsReadNow)
	}
	return rep.Counters["rows_written"], rep.Counters["rows_rejected"], string(readFile(t, filepath.Join(dir, "out.rejects.csv")))
}

// TestStrayQuoteKeepsLaterRows is finding 17.1: a stray quote at line 3
// and a quote again at line 20,004 cost one reject at line 3, not the
// 20,001 good rows between.
func TestStrayQuoteKeepsLaterRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("email,name,company\ngood0@acme.com,A,Acme\n\"stray@acme.com,Bob,Acme\n")
	for i := 1; i <= 20_000; i++ {
		fmt.Fprintf(&b, "good%d@acme.com,N%d,Acme\n", i, i)
	}
	b.WriteString("late@acme.com,\"Quoted\",Acme\n") // line 20,004
	in := filepath.Join(t.TempDir(), "stray.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	written, rejected, rejects := runCounts(t, in)
	if written != 20_002 || rejected != 1 {
		t.Errorf("written %d, rejected %d; want 20002 and 1", written, rejected)
	}
	if !strings.Contains(rejects, "\n3,") || len(rejects) > 1000 {
		t.Errorf("reject file does not hold line 3 alone:\n%.1000s", rejects)
	}

	// The six-line case of the finding: all four good rows come out.
	small := filepath.Join(t.TempDir(), "small.csv")
	data := "email,name,company\na@acme.com,A,Acme\n\"stray@acme.com,Bob,Acme\nb@acme.com,B,Acme\nc@acme.com,C,\"Acme\"\nd@acme.com,D,Acme\n"
	if err := os.WriteFile(small, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if written, rejected, _ := runCounts(t, small); written != 4 || rejected != 1 {
		t.Errorf("six lines: written %d, rejected %d; want 4 and 1", written, rejected)
	}
}

// TestCROnlyLineEndings is finding 17.2: a file whose lines end in a lone
// CR (old Excel for Mac) is read line by line.
func TestCROnlyLineEndings(t *testing.T) {
	var b strings.Builder
	b.WriteString("Email,First Name,Company\r")
	for i := range 100 {
		fmt.Fprintf(&b, "user%d@acme.com,User %d,Acme\r", i, i)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "mac.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	r := mustRun(t, "http://127.0.0.1:1", "run", "-i", in, "-o", out, "--no-cache", "--progress", "none")
	if !strings.Contains(r.stderr, "line ends cr") {
		t.Errorf("the run does not say how it reads the input:\n%s", r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(string(readFile(t, out)), "\n"), "\n")
	if len(lines) != 101 || !strings.HasPrefix(lines[0], "Email,First Name,Company,row_status") || !strings.HasPrefix(lines[100], "user99@acme.com,User 99,Acme,") {
		t.Errorf("output has %d lines, want 101 (header %.60q)", len(lines), lines[0])
	}
}

// TestHeaderSpanningLinesRefused: a first line that holds line breaks
// inside a column name is more than one line of data, not a header.
func TestHeaderSpanningLinesRefused(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(in, []byte("email,\"name\na@b.com,x\nc@d.com\",y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBatch(t, "http://127.0.0.1:1", "run", "-i", in, "-o", in+".out.csv", "--no-cache", "--progress", "none")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "more than one line") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 2 {
		t.Errorf("exit %d, want %d with a short error about the header:\n%s", r.code, ExitUsage, r.stderr)
	}
}

// TestSameSizeEditRefused is finding 17.8: an edit of the same size past
// the first 64 KiB, with the modification time put back, is refused.
func TestSameSizeEditRefused(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 8))
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 4000, 0, 0, 3) // about 230 KiB
	data := readFile(t, in)
	st, err := os.Stat(in)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none"}
	mustRun(t, em.URL, args...)

	// Change 17 rows somewhere past 64 KiB, keeping the size: "First" → "Fjrst".
	at := 64<<10 + rng.IntN(len(data)-(64<<10)-2000)
	edited := append([]byte(nil), data...)
	seg := bytes.Replace(edited[at:at+2000], []byte(",First,"), []byte(",Fjrst,"), 17)
	copy(edited[at:], seg)
	if bytes.Equal(edited, data) {
		t.Fatal("the edit changed nothing")
	}
	if err := os.WriteFile(in, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(in, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	r := runBatch(t, em.URL, args...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "the input changed") {
		t.Fatalf("edited input at byte %d: exit %d, want %d (input changed)\n%s", at, r.code, ExitUsage, r.stderr)
	}
}
