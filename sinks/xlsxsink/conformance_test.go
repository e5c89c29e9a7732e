package xlsxsink_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/contactbatch/batch/internal/sinktest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/xlsxsink"
)

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		dir := t.TempDir()
		path, staging := filepath.Join(dir, "out.xlsx"), filepath.Join(dir, "output.rows.csv")
		return sinktest.Target{
			Open: func(t *testing.T, pos pipeline.Position) sinktest.Sink {
				s, err := xlsxsink.Open(path, staging, xlsxsink.Options{Schema: sinktest.Schema()}, pos)
				if err != nil {
					t.Fatalf("Open(%q) = %v", pos, err)
				}
				return s
			},
			Read: func(t *testing.T) []string {
				if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				f, err := excelize.OpenFile(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				rows, err := f.GetRows(xlsxsink.SheetName)
				if err != nil {
					t.Fatal(err)
				}
				emails := []string{}
				for _, r := range rows[1:] {
					emails = append(emails, r[0])
				}
				return emails
			},
			Visibility: sinktest.OnClose,
		}
	})
}
