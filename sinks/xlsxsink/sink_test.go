package xlsxsink_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/xlsxsink"
)

var schema = pipeline.Schema{
	Input:  []string{"Email", "Customer No"},
	Result: []string{"row_status", "email_verdict", "org_employees"},
	Types:  []pipeline.ColumnType{pipeline.TypeText, pipeline.TypeText, pipeline.TypeInt},
}

func out(i int) *pipeline.Output {
	verdicts := []string{"deliverable", "undeliverable", "risky", "unknown", ""}
	return &pipeline.Output{Seq: int64(i), Line: int64(i + 2),
		Values: []string{fmt.Sprintf("u%d@x.com", i), fmt.Sprintf("%06d", i)},
		Result: []string{"ok", verdicts[i%len(verdicts)], fmt.Sprint(i * 10)}}
}

// TestResumeExactlyOnce writes rows, commits, writes more that a crash
// loses, reopens at the commit and finishes: the workbook holds each row
// once, with the header frozen and filtered and the verdicts coloured.
func TestResumeExactlyOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, staging := filepath.Join(dir, "out.xlsx"), filepath.Join(dir, "state", "output.rows.csv")
	if err := mkdir(filepath.Dir(staging)); err != nil {
		t.Fatal(err)
	}
	s, err := xlsxsink.Open(path, staging, xlsxsink.Options{Schema: schema, Sync: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Write(ctx, out(i)); err != nil {
			t.Fatal(err)
		}
	}
	pos, err := s.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 8; i++ { // lost by the "crash"
		if err := s.Write(ctx, out(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	s, err = xlsxsink.Open(path, staging, xlsxsink.Options{Schema: schema, Sync: true}, pos)
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		if err := s.Write(ctx, out(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !cmp.Equal(got, []string{xlsxsink.SheetName}) {
		t.Errorf("sheets = %q", got)
	}
	rows, err := f.GetRows(xlsxsink.SheetName)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Email", "Customer No", "row_status", "email_verdict", "org_employees"}}
	for i := range 10 {
		o := out(i)
		r := append(append([]string{}, o.Values...), o.Result...)
		if r[3] == "" {
			r = r[:5]
		}
		want = append(want, r)
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows diff (-want +got):\n%s", diff)
	}
	panes, err := f.GetPanes(xlsxsink.SheetName)
	if err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("panes = %+v, %v; want the header row frozen", panes, err)
	}
	style, err := f.GetCellStyle(xlsxsink.SheetName, "D2")
	if err != nil || style == 0 {
		t.Errorf("verdict cell D2 style = %d, %v; want a fill", style, err)
	}
	if v, _ := f.GetCellType(xlsxsink.SheetName, "E3"); v != excelize.CellTypeNumber && v != excelize.CellTypeUnset {
		t.Errorf("org_employees cell type = %v, want a number", v)
	}
	if v, _ := f.GetCellType(xlsxsink.SheetName, "B3"); v == excelize.CellTypeNumber || v == excelize.CellTypeUnset {
		t.Errorf("an input cell (leading zeros) has type %v, want text", v)
	}

	// A crash after the workbook was published and before the job was
	// marked finished: reopening at the last position and closing again
	// publishes the same rows.
	s, err = xlsxsink.Open(path, staging, xlsxsink.Options{Schema: schema}, mustPos(t, ctx, path, staging))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f2, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	rows2, _ := f2.GetRows(xlsxsink.SheetName)
	if diff := cmp.Diff(want, rows2); diff != "" {
		t.Errorf("republished rows diff (-want +got):\n%s", diff)
	}
}
