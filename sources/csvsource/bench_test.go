package csvsource_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/contactbatch/batch/sources/csvsource"
)

// BenchmarkSource reads a generated 100k-row file; it reports rows/s.
func BenchmarkSource(b *testing.B) {
	const rows = 100_000
	p := filepath.Join(b.TempDir(), "bench.csv")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "Email,First Name,Last Name,Company,Title,Notes,Country")
	for i := range rows {
		fmt.Fprintf(w, "user%d@example%d.com,First%d,Last%d,\"Company %d, Inc.\",Engineer,\"note %d\",US\n", i, i%977, i, i, i%5000, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(p)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		s, err := csvsource.Open(ctx, p, csvsource.Options{MapHeader: mapHeader}, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := s.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
		_ = s.Close()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
