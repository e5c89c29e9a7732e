package csvsource_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

// FuzzDecoder checks, on any input, that the decoder never panics, ends at
// the input's length, agrees with encoding/csv on comma-separated UTF-8
// inputs without carriage returns that both accept whole, and that
// resuming at every cursor yields exactly the remaining outcomes.
func FuzzDecoder(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.csv")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := opts()
		o.MaxFieldBytes, o.MaxRecordBytes = 64, 256
		d, err := csvsource.NewDecoder(bytes.NewReader(data), o, nil)
		if err != nil {
			return
		}
		var got []item
		var rows [][]string
		rejected := false
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more outcomes than bytes")
			}
			row, err := d.Next(context.Background())
			if err == io.EOF {
				break
			}
			var re *pipeline.RowError
			switch {
			case errors.As(err, &re):
				rejected = true
				got = append(got, item{re.Reason, csvsource.FormatCursor(d.Offset(), d.Line())})
			case err != nil:
				t.Fatalf("Next() error = %v", err)
			default:
				rows = append(rows, row.Values)
				got = append(got, item{string(rune(row.Line)), csvsource.FormatCursor(d.Offset(), d.Line())})
			}
		}
		if d.Offset() != int64(len(data)) {
			t.Fatalf("Offset() at EOF = %d, want %d", d.Offset(), len(data))
		}
		dl := d.Dialect()
		if !rejected && d.Header() != nil && dl.Delimiter == ',' && dl.Encoding == csvsource.UTF8 && !bytes.ContainsRune(data, '\r') {
			r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})))
			want, err := r.ReadAll()
			if err == nil && len(want) > 0 {
				if diff := cmp.Diff(want[1:], rows, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("rows differ from encoding/csv (-csv +decoder):\n%s", diff)
				}
			}
		}
		for i, it := range got {
			c, err := csvsource.ParseCursor(it.cursor)
			if err != nil {
				t.Fatal(err)
			}
			o2 := o
			o2.Dialect = dl
			d2, err := csvsource.NewDecoder(bytes.NewReader(data[c.Offset:]), o2, &csvsource.Resume{Header: d.Header(), Offset: c.Offset, Line: c.Line})
			if err != nil {
				t.Fatal(err)
			}
			var rest []item
			for {
				row, err := d2.Next(context.Background())
				if err == io.EOF {
					break
				}
				var re *pipeline.RowError
				if errors.As(err, &re) {
					rest = append(rest, item{re.Reason, csvsource.FormatCursor(d2.Offset(), d2.Line())})
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				rest = append(rest, item{string(rune(row.Line)), csvsource.FormatCursor(d2.Offset(), d2.Line())})
			}
			if diff := cmp.Diff(got[i+1:], rest, cmp.AllowUnexported(item{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("resume after %d differs:\n%s", i, diff)
			}
		}
	})
}
