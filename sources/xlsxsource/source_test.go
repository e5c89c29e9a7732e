package xlsxsource_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/corpus"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/xlsxsource"
)

func opts(sheet string) xlsxsource.Options {
	return xlsxsource.Options{MapHeader: func(h []string) (contact.Mapping, error) { return contact.MapHeader(h, nil) }, Sheet: sheet}
}

type got struct {
	rows    []corpus.SheetRow
	cursors []string
}

func drain(t *testing.T, s *xlsxsource.Source) got {
	t.Helper()
	var g got
	for i := 0; i < 1_000_000; i++ {
		row, err := s.Next(context.Background())
		if err == io.EOF {
			return g
		}
		var re *pipeline.RowError
		if errors.As(err, &re) {
			g.rows = append(g.rows, corpus.SheetRow{Row: re.Line, Values: []string{"!", re.Reason}})
			g.cursors = append(g.cursors, re.Cursor)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		g.rows = append(g.rows, corpus.SheetRow{Row: row.Line, Values: row.Values})
		g.cursors = append(g.cursors, row.Cursor)
	}
	t.Fatal("no EOF")
	return g
}

func workbook(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "contacts.xlsx")
	if err := corpus.WriteWorkbook(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWorkbook(t *testing.T) {
	p := workbook(t)
	s, err := xlsxsource.Open(context.Background(), p, opts(""), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Sheet() != corpus.MainSheet {
		t.Errorf("Sheet() = %q, want the first visible %q", s.Sheet(), corpus.MainSheet)
	}
	if diff := cmp.Diff(corpus.MainHeader(), s.Header()); diff != "" {
		t.Errorf("Header() diff (-want +got):\n%s", diff)
	}
	all := drain(t, s)
	if diff := cmp.Diff(corpus.MainRows(), all.rows); diff != "" {
		t.Fatalf("rows diff (-want +got):\n%s", diff)
	}
	if row, err := s.Next(context.Background()); err != io.EOF {
		t.Fatalf("Next after EOF = %v, %v", row, err)
	}
	for i, cur := range all.cursors {
		r, err := xlsxsource.Open(context.Background(), p, opts(""), cur, s.Header())
		if err != nil {
			t.Fatal(err)
		}
		rest := drain(t, r)
		r.Close()
		if diff := cmp.Diff(all.rows[i+1:], rest.rows, cmp.Comparer(func(a, b []corpus.SheetRow) bool { return cmp.Equal(a, b) })); diff != "" && len(all.rows[i+1:])+len(rest.rows) > 0 {
			t.Errorf("resume after %s diff (-want +got):\n%s", cur, diff)
		}
	}
}

func TestSheetChoice(t *testing.T) {
	p := workbook(t)
	for _, sheet := range []string{corpus.OtherSheet, "3", "other"} {
		s, err := xlsxsource.Open(context.Background(), p, opts(sheet), "", nil)
		if err != nil {
			t.Fatalf("--sheet %s: %v", sheet, err)
		}
		if diff := cmp.Diff(corpus.OtherRows(), drain(t, s).rows); diff != "" {
			t.Errorf("--sheet %s rows diff (-want +got):\n%s", sheet, diff)
		}
		s.Close()
	}
	if _, err := xlsxsource.Open(context.Background(), p, opts("Nope"), "", nil); !errors.Is(err, xlsxsource.ErrNoSheet) {
		t.Errorf("unknown sheet: error = %v, want ErrNoSheet", err)
	}
	if _, err := xlsxsource.Open(context.Background(), p, opts("9"), "", nil); !errors.Is(err, xlsxsource.ErrNoSheet) {
		t.Errorf("sheet 9 of 3: error = %v, want ErrNoSheet", err)
	}
}
