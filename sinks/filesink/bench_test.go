package filesink_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
)

// BenchmarkCSV writes 100k rows of 10 input and 20 result columns to a
// CSV file per iteration and reports rows/s.
func BenchmarkCSV(b *testing.B) {
	benchmarkFormat(b, filesink.CSV)
}

// BenchmarkJSONL is BenchmarkCSV for JSONL.
func BenchmarkJSONL(b *testing.B) {
	benchmarkFormat(b, filesink.JSONL)
}

func benchmarkFormat(b *testing.B, format filesink.Format) {
	const rows = 100_000
	var sc pipeline.Schema
	for i := range 10 {
		sc.Input = append(sc.Input, fmt.Sprintf("in_%d", i))
	}
	for i := range 20 {
		sc.Result = append(sc.Result, fmt.Sprintf("result_%d", i))
	}
	outs := make([]*pipeline.Output, 1000)
	for i := range outs {
		o := &pipeline.Output{Line: int64(i + 2), Values: make([]string, 10), Result: make([]string, 20)}
		for j := range o.Values {
			o.Values[j] = fmt.Sprintf("value %d, row %d", j, i)
		}
		o.Values[0] = fmt.Sprintf("user%d@example.com", i)
		for j := range o.Result {
			o.Result[j] = fmt.Sprintf("r%d", j)
		}
		o.Result[0] = "deliverable"
		outs[i] = o
	}
	o := filesink.DefaultOptions()
	o.Format, o.Schema = format, sc
	ctx := context.Background()
	dir := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		s, err := filesink.Open(filepath.Join(dir, fmt.Sprintf("out%d", n%2)), o, "")
		if err != nil {
			b.Fatal(err)
		}
		for i := range rows {
			if err := s.Write(ctx, outs[i%len(outs)]); err != nil {
				b.Fatal(err)
			}
			if i%2000 == 1999 {
				if _, err := s.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
