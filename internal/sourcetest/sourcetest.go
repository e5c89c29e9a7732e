// Package sourcetest is the conformance suite every pipeline.Source runs,
// in the manner of go-cloud's blob/drivertest: a source's test file stores
// the suite's records in its own format and calls Run, and the suite checks
// the resume contract the pipeline relies on. It is for tests only: import
// it from _test.go files.
//
// What Run checks: a full read returns every record in order, each with
// the values written, a line number that grows and a cursor; the one short
// record is returned as a row or a *pipeline.RowError, as the format has
// it; reopening at the cursor of every row or reject (with the header the
// first open returned) returns exactly the outcomes that followed it, and
// reopening at the last cursor returns io.EOF at once.
//
// To add a source: write a function that stores the records (a header,
// then data records) where the source reads them (a file, objects under a
// prefix, a stream, a workbook) and returns a Target opening the source
// there, then call Run from a test of the source's package.
package sourcetest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/contactbatch/batch/pipeline"
)

// Target opens one source over the records given to Run's newTarget.
type Target struct {
	// Open opens the source at cursor ("" for the start); header is the
	// header the first open returned (nil for the start).
	Open func(t *testing.T, cursor string, header []string) pipeline.Source
}

// ShortRecord is the index in Records of the record with one field fewer
// than the header.
const ShortRecord = 5

// Records returns the suite's input: a header, then data records with
// commas, quotes, newlines, non-ASCII text and one short record.
func Records() [][]string {
	recs := [][]string{{"email", "name", "notes"}}
	for i := 1; i <= 12; i++ {
		r := []string{fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("User, \"%d\"", i), "plain"}
		switch i % 4 {
		case 1:
			r[2] = "two\nlines"
		case 2:
			r[2] = "Zoë, Ørsted – 東京"
		}
		recs = append(recs, r)
	}
	recs[ShortRecord] = recs[ShortRecord][:2]
	return recs
}

// CSV returns records as CSV (LF line ends), for sources that read CSV.
func CSV(t *testing.T, records [][]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := csv.NewWriter(&b).WriteAll(records); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Outcome is what one Next returned: a row, or a reject (Reject set).
type Outcome struct {
	Origin string
	Line   int64
	Values []string
	Reject string
	cursor string
}

// Run runs the suite; newTarget stores records and returns a Target
// reading them.
func Run(t *testing.T, newTarget func(t *testing.T, records [][]string) Target) {
	recs := Records()
	tg := newTarget(t, recs)
	s := tg.Open(t, "", nil)
	header := slices.Clone(s.Header())
	if !slices.Equal(header, recs[0]) {
		t.Fatalf("Header() = %q, want %q", header, recs[0])
	}
	all := drain(t, s)
	checkFullRead(t, all, recs[1:])
	for i, o := range all {
		rest := drain(t, tg.Open(t, o.cursor, header))
		if diff := cmp.Diff(all[i+1:], rest, cmpopts.IgnoreUnexported(Outcome{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("resume after outcome %d (cursor %q): (-want +got):\n%s", i, o.cursor, diff)
		}
	}
}

// checkFullRead checks one outcome per record, in order.
func checkFullRead(t *testing.T, all []Outcome, recs [][]string) {
	t.Helper()
	if len(all) != len(recs) {
		t.Fatalf("a full read returned %d outcomes, want one per record (%d): %+v", len(all), len(recs), all)
	}
	for i, o := range all {
		switch {
		case o.cursor == "":
			t.Errorf("outcome %d has no cursor", i)
		case i > 0 && o.Origin == all[i-1].Origin && o.Line <= all[i-1].Line:
			t.Errorf("outcome %d: line %d after line %d", i, o.Line, all[i-1].Line)
		case o.Reject != "" && i+1 != ShortRecord:
			t.Errorf("record %d rejected: %s", i+1, o.Reject)
		case o.Reject == "" && i+1 != ShortRecord && !slices.Equal(o.Values, recs[i]):
			t.Errorf("record %d read as %q, want %q", i+1, o.Values, recs[i])
		}
	}
}

// drain reads s to io.EOF and closes it.
func drain(t *testing.T, s pipeline.Source) []Outcome {
	t.Helper()
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	}()
	var out []Outcome
	for range 1000 {
		row, err := s.Next(context.Background())
		if err == io.EOF {
			return out
		}
		var re *pipeline.RowError
		switch {
		case errors.As(err, &re):
			out = append(out, Outcome{Origin: re.Origin, Line: re.Line, Reject: re.Reason, cursor: re.Cursor})
		case err != nil:
			t.Fatalf("Next() = %v", err)
		default:
			out = append(out, Outcome{Origin: row.Origin, Line: row.Line, Values: slices.Clone(row.Values), cursor: row.Cursor})
		}
	}
	t.Fatal("Next never returned io.EOF")
	return nil
}
