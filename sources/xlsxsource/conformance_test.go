package xlsxsource_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/contactbatch/batch/internal/sourcetest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/xlsxsource"
)

func TestConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T, records [][]string) sourcetest.Target {
		path := filepath.Join(t.TempDir(), "in.xlsx")
		f := excelize.NewFile()
		for i, r := range records {
			cells := make([]any, len(r))
			for j, v := range r {
				cells[j] = v
			}
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow("Sheet1", cell, &cells); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return sourcetest.Target{Open: func(t *testing.T, cursor string, header []string) pipeline.Source {
			s, err := xlsxsource.Open(context.Background(), path, opts(""), cursor, header)
			if err != nil {
				t.Fatalf("Open(%q) = %v", cursor, err)
			}
			return s
		}}
	})
}
