package csvsource_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

// fuzzDelims and fuzzEncodings are what FuzzDecoder's delim and enc
// arguments pick from (modulo their length).
var (
	fuzzDelims    = []byte{',', ';', '\t', '|'}
	fuzzEncodings = []struct {
		name string // the Dialect's Encoding
		enc  encoding.Encoding
	}{
		{csvsource.UTF8, nil}, // as is
		{csvsource.UTF8, unicode.UTF8BOM},
		{csvsource.UTF16LE, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)},
		{csvsource.UTF16BE, unicode.UTF16(unicode.BigEndian, unicode.UseBOM)},
		{csvsource.Windows1252, charmap.Windows1252},
	}
)

// FuzzDecoder checks, on any input, that the decoder never panics, ends at
// the input's length, agrees with encoding/csv on comma-separated UTF-8
// inputs without carriage returns that both accept whole, and that
// resuming at every cursor yields exactly the remaining outcomes.
//
// It then writes the same table with the delimiter delim picks (',' ';'
// tab '|': the input's commas and that delimiter swap places) in the
// encoding enc picks (UTF-8, UTF-8 with BOM, UTF-16LE/BE with BOM,
// Windows-1252 when every character has a code) and checks that decoding
// it with that dialect gives the same rows and rejects (values with the
// swap undone), ends at its length, and resumes exactly at every cursor;
// and that sniffing that input never panics and ends at its length.
func FuzzDecoder(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.csv")
	for i, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, byte(0), byte(0))
		f.Add(b, byte(i+1), byte(i+1)) // every delimiter and encoding across the corpus
	}
	f.Fuzz(func(t *testing.T, data []byte, delim, enc byte) {
		o := opts()
		o.MaxFieldBytes, o.MaxRecordBytes = 64, 256
		got, rows, d := decodeAll(t, data, o)
		if d == nil {
			return
		}
		dl := d.Dialect()
		rejected := false
		for _, it := range got {
			rejected = rejected || strings.HasPrefix(it.s, "!")
		}
		if !rejected && d.Header() != nil && dl.Delimiter == ',' && dl.Encoding == csvsource.UTF8 && !bytes.ContainsRune(data, '\r') {
			r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})))
			want, err := r.ReadAll()
			if err == nil && len(want) > 0 {
				if diff := cmp.Diff(want[1:], rows, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("rows differ from encoding/csv (-csv +decoder):\n%s", diff)
				}
			}
		}
		checkResume(t, data, o, dl, d.Header(), got)

		// The same table in another dialect.
		if !utf8.Valid(data) || bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}) || bytes.ContainsRune(data, 0) {
			return
		}
		sep := fuzzDelims[int(delim)%len(fuzzDelims)]
		e := fuzzEncodings[int(enc)%len(fuzzEncodings)]
		text := swap(data, ',', sep)
		if e.enc != nil {
			var err error
			if text, err = e.enc.NewEncoder().Bytes(text); err != nil {
				return // a character Windows-1252 has no code for
			}
		}
		base := o
		base.Dialect = csvsource.Dialect{Delimiter: ',', Encoding: csvsource.UTF8}
		want, wantRows, d0 := decodeAll(t, data, base)
		o2 := o
		o2.Dialect = csvsource.Dialect{Delimiter: sep, Encoding: e.name}
		got2, rows2, d2 := decodeAll(t, text, o2)
		if (d0 == nil) != (d2 == nil) {
			t.Fatalf("delimiter %q, %s: decoder made %v, as comma-separated UTF-8 %v", sep, e.name, d2 != nil, d0 != nil)
		}
		if d2 == nil {
			return
		}
		for i := range rows2 {
			for j := range rows2[i] {
				rows2[i][j] = string(swap([]byte(rows2[i][j]), ',', sep))
			}
		}
		if diff := cmp.Diff(wantRows, rows2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("delimiter %q, %s: rows differ from the comma-separated UTF-8 input's (-utf8 +other):\n%s", sep, e.name, diff)
		}
		if diff := cmp.Diff(lines(want), lines(got2)); diff != "" {
			t.Fatalf("delimiter %q, %s: outcomes differ (-utf8 +other):\n%s", sep, e.name, diff)
		}
		checkResume(t, text, o2, d2.Dialect(), d2.Header(), got2)
		if _, _, d3 := decodeAll(t, text, o); d3 != nil && d3.Offset() != int64(len(text)) {
			t.Fatalf("sniffed: Offset() at EOF = %d, want %d", d3.Offset(), len(text))
		}
	})
}

// decodeAll decodes data to the end: every outcome (a row's line, or "!",
// a reject's reason and its line), the rows' values,
// and the decoder (nil when NewDecoder refused the input). It checks that
// the decoder ends at the input's length.
func decodeAll(t *testing.T, data []byte, o csvsource.Options) (got []item, rows [][]string, d *csvsource.Decoder) {
	t.Helper()
	d, err := csvsource.NewDecoder(bytes.NewReader(data), o, nil)
	if err != nil {
		return nil, nil, nil
	}
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
			got = append(got, item{"!" + re.Reason + "@" + string(rune(re.Line)), csvsource.FormatCursor(d.Offset(), d.Line())})
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
	return got, rows, d
}

// checkResume resumes at every outcome's cursor and checks that the rest
// is exactly the outcomes after it.
func checkResume(t *testing.T, data []byte, o csvsource.Options, dl csvsource.Dialect, header []string, got []item) {
	t.Helper()
	for i, it := range got {
		c, err := csvsource.ParseCursor(it.cursor)
		if err != nil {
			t.Fatal(err)
		}
		o2 := o
		o2.Dialect = dl
		d2, err := csvsource.NewDecoder(bytes.NewReader(data[c.Offset:]), o2, &csvsource.Resume{Header: header, Offset: c.Offset, Line: c.Line})
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
				rest = append(rest, item{"!" + re.Reason + "@" + string(rune(re.Line)), csvsource.FormatCursor(d2.Offset(), d2.Line())})
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
}

// lines is the outcomes without their cursors (byte offsets differ
// between encodings; line numbers and reasons do not).
func lines(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.s
	}
	return out
}

// swap exchanges bytes a and b in data (a copy).
func swap(data []byte, a, b byte) []byte {
	out := bytes.Clone(data)
	if a == b {
		return out
	}
	for i, c := range out {
		switch c {
		case a:
			out[i] = b
		case b:
			out[i] = a
		}
	}
	return out
}
