package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/internal/corpus"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

const corpusDir = "../../testdata/input"

// readOutput reads a CSV output of the binary byte for byte (values with
// CRLF inside stay so): its header and rows.
func readOutput(t *testing.T, path string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := csvsource.NewDecoder(f, csvsource.Options{
		Dialect:   csvsource.Dialect{Delimiter: ','},
		MapHeader: func(h []string) (contact.Mapping, error) { return make(contact.Mapping, len(h)), nil },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for {
		row, err := d.Next(context.Background())
		if err == io.EOF {
			return d.Header(), rows
		}
		var re *pipeline.RowError
		if errors.As(err, &re) || err != nil {
			t.Fatalf("%s: output row unreadable: %v", path, err)
		}
		rows = append(rows, row.Values)
	}
}

// wantVerdict is the emulator's documented verdict for the corpus's local
// parts.
func wantVerdict(email string) string {
	switch {
	case strings.HasPrefix(email, "valid."):
		return "deliverable"
	case strings.HasPrefix(email, "bounce."):
		return "undeliverable"
	case strings.HasPrefix(email, "unknown."):
		return "unknown"
	}
	return "?"
}

// TestInputCorpus runs every file of testdata/input (built by
// internal/corpus; -update writes them) through the binary with --verify:
// every row is written or rejected with its line, the input values come
// out as the source text, and the verdicts are the emulator's.
func TestInputCorpus(t *testing.T) {
	if *update {
		if err := os.MkdirAll(corpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range corpus.Files() {
			if err := os.WriteFile(filepath.Join(corpusDir, f.Name), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := corpus.WriteWorkbook(filepath.Join(corpusDir, "contacts.xlsx")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(corpusDir, "contacts.xlsx"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	em := startEmulator(t, sandbox.DefaultOptions())
	for _, f := range corpus.Files() {
		t.Run(f.Name, func(t *testing.T) {
			in := filepath.Join(corpusDir, f.Name)
			if !bytes.Equal(readFile(t, in), f.Data) {
				t.Fatalf("%s is not what internal/corpus builds (rerun with -update)", in)
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "out.csv")
			mustRun(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none")
			header, rows := readOutput(t, out)
			if !slices.Equal(header[:5], f.Header) {
				t.Errorf("output header %q, want the input's %q first", header[:5], f.Header)
			}
			verdict := slices.Index(header, "email_verdict")
			want := corpus.Contacts()
			if len(rows) != len(want) {
				t.Fatalf("%d rows written, want %d", len(rows), len(want))
			}
			for i, c := range want {
				if got := rows[i][:5]; !slices.Equal(got, []string{c.Email, c.First, c.Last, c.Company, c.Note}) {
					t.Errorf("row %d values %q, want %q", i+1, got, c)
				}
				if rows[i][verdict] != wantVerdict(c.Email) {
					t.Errorf("row %d verdict %q, want %q", i+1, rows[i][verdict], wantVerdict(c.Email))
				}
			}
			rep := readReport(t, out+".state/report.json")
			written, rejected := rep.Counters["rows_written"], rep.Counters["rows_rejected"]
			if written+rejected != rep.RowsReadNow {
				t.Errorf("written %d + rejected %d != read %d", written, rejected, rep.RowsReadNow)
			}
			rejects := string(readFile(t, filepath.Join(dir, "out.rejects.csv")))
			if f.Stray == 0 && rejected != 0 || f.Stray != 0 && (rejected != 1 || !strings.Contains(rejects, "\n4,"+in+",")) {
				t.Errorf("rejected %d, want the stray quote's line %d only:\n%s", rejected, f.Stray, rejects)
			}
			data := readFile(t, out)
			if bom := bytes.HasPrefix(f.Data, []byte("\xEF\xBB\xBF")) || bytes.HasPrefix(f.Data, []byte{0xFF, 0xFE}); bom != bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
				t.Errorf("output BOM %v, input BOM %v", !bom, bom)
			}
			d, err := csvsource.Detect(f.Data, csvsource.Dialect{})
			if err != nil {
				t.Fatal(err)
			}
			if crlf := d.LineEnd == csvsource.CRLF; crlf != bytes.HasSuffix(data, []byte("\r\n")) {
				t.Errorf("output ends its lines in CRLF: %v, want %v (as the input)", !crlf, crlf)
			}
			if !bytes.Contains(data, []byte("line one\r\nline two")) {
				t.Errorf("the CRLF inside a quoted field did not come out as it went in")
			}
		})
	}
	t.Run("contacts.xlsx", func(t *testing.T) {
		in := filepath.Join(corpusDir, "contacts.xlsx")
		dir := t.TempDir()
		out := filepath.Join(dir, "out.csv")
		mustRun(t, em.URL, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none")
		header, rows := readOutput(t, out)
		if !slices.Equal(header[:len(corpus.MainHeader())], corpus.MainHeader()) {
			t.Errorf("header %q, want %q first", header, corpus.MainHeader())
		}
		verdict := slices.Index(header, "email_verdict")
		want := corpus.MainRows()
		if len(rows) != len(want) {
			t.Fatalf("%d rows, want %d", len(rows), len(want))
		}
		for i, w := range want {
			if got := rows[i][:len(w.Values)]; !slices.Equal(got, w.Values) {
				t.Errorf("sheet row %d: %q, want %q", w.Row, got, w.Values)
			}
			if rows[i][verdict] != wantVerdict(w.Values[0]) {
				t.Errorf("sheet row %d verdict %q, want %q", w.Row, rows[i][verdict], wantVerdict(w.Values[0]))
			}
		}
		// Another sheet by name.
		out2 := filepath.Join(dir, "other.csv")
		mustRun(t, em.URL, "run", "-i", in, "-o", out2, "--sheet", corpus.OtherSheet, "--no-cache", "--progress", "none")
		if _, rows := readOutput(t, out2); len(rows) != 1 || rows[0][0] != corpus.OtherRows()[0].Values[0] {
			t.Errorf("--sheet %s rows %q", corpus.OtherSheet, rows)
		}
		r := runBatch(t, em.URL, "run", "-i", in, "-o", filepath.Join(dir, "x.csv"), "--sheet", "Nope", "--no-cache", "--progress", "none")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "no such sheet") {
			t.Errorf("--sheet Nope: exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("xlsx output", func(t *testing.T) {
		dir := t.TempDir()
		in := filepath.Join(corpusDir, "semicolon_bom.csv")
		csvOut, xlsxOut := filepath.Join(dir, "out.csv"), filepath.Join(dir, "out.xlsx")
		mustRun(t, em.URL, "run", "-i", in, "-o", csvOut, "--verify", "--no-cache", "--progress", "none")
		mustRun(t, em.URL, "run", "-i", in, "-o", xlsxOut, "--verify", "--no-cache", "--progress", "none")
		header, rows := readOutput(t, csvOut)
		got := xlsxRows(t, xlsxOut)
		if diff := slices.Compare(header, got[0]); diff != 0 {
			t.Errorf("xlsx header %q, want %q", got[0], header)
		}
		if len(got)-1 != len(rows) {
			t.Fatalf("xlsx has %d rows, CSV %d", len(got)-1, len(rows))
		}
		for i := range rows {
			// Boolean result cells are Excel booleans, shown TRUE/FALSE.
			if !slices.EqualFunc(trimRight(rows[i]), got[i+1], strings.EqualFold) {
				t.Errorf("xlsx row %d %q, CSV %q", i+1, got[i+1], rows[i])
			}
		}
	})
}

// xlsxRows reads the first sheet of a workbook as displayed.
func xlsxRows(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetList()[0])
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// trimRight drops trailing empty cells (a workbook row does not keep them).
func trimRight(r []string) []string {
	n := len(r)
	for n > 0 && r[n-1] == "" {
		n--
	}
	return r[:n]
}

// csvToXLSX writes the rows of a CSV file into a workbook beside it (one
// sheet, every cell text) and returns its path.
func csvToXLSX(t *testing.T, path string) string {
	t.Helper()
	header, rows := readOutput(t, path)
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	row := func(n int, vals []string) {
		cells := make([]any, len(vals))
		for i, v := range vals {
			cells[i] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, n)
		if err := sw.SetRow(cell, cells); err != nil {
			t.Fatal(err)
		}
	}
	row(1, header)
	for i, r := range rows {
		row(i+2, r)
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSuffix(path, filepath.Ext(path)) + ".xlsx"
	if err := f.SaveAs(out); err != nil {
		t.Fatal(err)
	}
	return out
}
