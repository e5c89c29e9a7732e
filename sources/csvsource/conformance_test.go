package csvsource_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/contactbatch/batch/internal/sourcetest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name, file string // file "" reads stdin
		gzip       bool
	}{
		{"plain", "in.csv", false},
		{"gzip", "in.csv.gz", true},
		{"gzip by magic", "in.dat", true},
		{"stdin", "", false},
		{"stdin gzip", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sourcetest.Run(t, func(t *testing.T, records [][]string) sourcetest.Target {
				data := sourcetest.CSV(t, records)
				if tt.gzip {
					data = gz(t, data)
				}
				path := "-"
				if tt.file != "" {
					path = filepath.Join(t.TempDir(), tt.file)
					if err := os.WriteFile(path, data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				return sourcetest.Target{Open: func(t *testing.T, cursor string, header []string) pipeline.Source {
					o := csvsource.Options{MapHeader: mapHeader, Stdin: bytes.NewReader(data)}
					s, err := csvsource.Open(context.Background(), path, o, cursor, header)
					if err != nil {
						t.Fatalf("Open(%q) = %v", cursor, err)
					}
					return s
				}}
			})
		})
	}
}
