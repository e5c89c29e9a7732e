package s3source_test

import (
	"context"
	"testing"

	"github.com/contactbatch/batch/internal/s3test"
	"github.com/contactbatch/batch/internal/sourcetest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/s3source"
)

// TestConformance reads the suite's records from one object, one gzipped
// object, and three objects under a prefix (each with the header; the
// middle one gzipped), so that cursors cross objects.
func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name  string
		parts int
		gzip  bool
	}{
		{"object", 1, false},
		{"gzip object", 1, true},
		{"prefix", 3, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sourcetest.Run(t, func(t *testing.T, records [][]string) sourcetest.Target {
				f := s3test.Start(t, bucket)
				header, rows := records[0], records[1:]
				per := (len(rows) + tt.parts - 1) / tt.parts
				for i := range tt.parts {
					part := append([][]string{header}, rows[i*per:min((i+1)*per, len(rows))]...)
					data, key := sourcetest.CSV(t, part), "in/part"+string(rune('a'+i))+".csv"
					if tt.gzip || tt.parts > 1 && i == 1 {
						data, key = gz(t, data), key+".gz"
					}
					f.Put(t, bucket, key, data)
				}
				f.Put(t, bucket, "other/x.csv", []byte("nope\n"))
				rawURL := f.URL(bucket, "in/parta.csv")
				if tt.parts > 1 {
					rawURL = f.URL(bucket, "in/")
				} else if tt.gzip {
					rawURL = f.URL(bucket, "in/parta.csv.gz")
				}
				return sourcetest.Target{Open: func(t *testing.T, cursor string, header []string) pipeline.Source {
					s, err := s3source.Open(context.Background(), rawURL, opts(), cursor, header)
					if err != nil {
						t.Fatalf("Open(%q) = %v", cursor, err)
					}
					return s
				}}
			})
		})
	}
}
