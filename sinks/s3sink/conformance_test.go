package s3sink_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"path/filepath"
	"testing"

	"github.com/contactbatch/batch/internal/sinktest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
	"github.com/contactbatch/batch/sinks/s3sink"
)

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		objURL, b := server(t)
		staging := filepath.Join(t.TempDir(), "out.csv")
		o := filesink.DefaultOptions()
		o.Schema = sinktest.Schema()
		return sinktest.Target{
			Open: func(t *testing.T, pos pipeline.Position) sinktest.Sink {
				s, err := s3sink.Open(context.Background(), objURL("res/out.csv"), staging, o, pos)
				if err != nil {
					t.Fatalf("Open(%q) = %v", pos, err)
				}
				return s
			},
			Read: func(t *testing.T) []string {
				if !exists(t, b, "res/out.csv") {
					return nil
				}
				data, err := b.ReadAll(context.Background(), "res/out.csv")
				if err != nil {
					t.Fatal(err)
				}
				recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
				if err != nil {
					t.Fatalf("read back: %v", err)
				}
				var emails []string
				for _, r := range recs[min(1, len(recs)):] {
					emails = append(emails, r[0])
				}
				return emails
			},
		}
	})
}
