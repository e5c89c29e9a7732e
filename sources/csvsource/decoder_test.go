package csvsource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

// mapHeader is a small stand-in for contact.MapHeader: lower-cased,
// trimmed names, first column wins.
func mapHeader(header []string) (contact.Mapping, error) {
	aliases := map[string]contact.Field{
		"email": contact.FieldEmail, "first name": contact.FieldFirstName,
		"first_name": contact.FieldFirstName, "company": contact.FieldCompany,
		"name": contact.FieldFullName,
	}
	m := make(contact.Mapping, len(header))
	used := map[contact.Field]bool{}
	for i, h := range header {
		f := aliases[strings.ToLower(strings.TrimSpace(h))]
		if f != "" && !used[f] {
			m[i], used[f] = f, true
		}
	}
	return m, nil
}

func opts() csvsource.Options {
	return csvsource.Options{MapHeader: mapHeader, Origin: "t"}
}

// item is one outcome of Next in a compact form: a row ("2 a|b") or a
// reject ("3 ! reason").
type item struct {
	s      string
	cursor string
}

// drain reads d to the end, recording each outcome and the position after it.
func drain(t *testing.T, d *csvsource.Decoder) []item {
	t.Helper()
	var out []item
	for i := 0; i < 1_000_000; i++ {
		row, err := d.Next(context.Background())
		if err == io.EOF {
			return out
		}
		pos := csvsource.FormatCursor(d.Offset(), d.Line())
		var re *pipeline.RowError
		switch {
		case errors.As(err, &re):
			out = append(out, item{fmt.Sprintf("%d ! %s", re.Line, re.Reason), pos})
		case err != nil:
			t.Fatalf("Next() error = %v", err)
		default:
			out = append(out, item{fmt.Sprintf("%d %s", row.Line, strings.Join(row.Values, "|")), pos})
		}
	}
	t.Fatal("Next never returned io.EOF")
	return nil
}

func strs(items []item) []string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = it.s
	}
	return s
}

func TestDecoderCorpus(t *testing.T) {
	tests := []struct {
		file   string
		header []string
		want   []string // rows "line v1|v2"; rejects "line ! reason"
	}{
		{"bom_crlf.csv", []string{"email", "name"}, []string{"2 a@x.com|Ann", "3 b@y.com|Bob"}},
		{"quoted.csv", []string{"email", "note"}, []string{"2 a@x.com|hello, world", "3 b@x.com|multi\nline", "5 c@x.com|z"}},
		{"quoted_crlf.csv", []string{"email", "note"}, []string{"2 a@x.com|he said \"hi\"\r\nbye", "4 b@x.com|c"}},
		{"ragged.csv", []string{"email", "a", "b"}, []string{
			"2 x@y.com|1|2",
			"3 ! wrong number of fields: 2, header has 3",
			"4 ! wrong number of fields: 4, header has 3",
			"5 ok@y.com|1|2"}},
		{"bare_quote.csv", []string{"email", "n"}, []string{`2 a@b.com|ab"c`, "3 c@d.com|ok"}},
		{"unbalanced.csv", []string{"email", "n"}, []string{"2 ! quoted field not closed before the end of the input (stray quote?)", "3 c@d.com|ok", "4 e@f.com|ok"}},
		{"quote_garbage.csv", []string{"email", "n"}, []string{"2 ! text after the closing quote of field 2", "3 c@d.com|ok"}},
		{"bad_utf8.csv", []string{"email", "n"}, []string{"2 a@b.com|café", "3 c@d.com|ok"}}, // not UTF-8: read as Windows-1252
		{"nul.csv", []string{"email", "n"}, []string{"2 ! NUL byte at line 2", "3 c@d.com|ok"}},
		{"dup_header.csv", []string{"email", "email", "Name"}, []string{"2 a@b.com|b@c.com|Ann"}},
		{"empty.csv", nil, nil},
		{"header_only.csv", []string{"email", "n"}, nil},
		{"header_only_nonl.csv", []string{"email", "n"}, nil},
		{"last_no_newline.csv", []string{"email", "n"}, []string{"2 a@b.com|x"}},
		{"blank_lines.csv", []string{"email", "n"}, []string{"3 a@b.com|x", "6 c@d.com|y"}},
		{"mixed.csv", []string{"Email", "First Name", "Company", "Notes"}, []string{
			"2 ann@acme.com|Ann|Acme|likes, commas",
			"3 bob@acme.com|Bob|Acme|two\r\nlines",
			"5 ! wrong number of fields: 3, header has 4",
			"6 ! text after the closing quote of field 3",
			"7 ! invalid UTF-8 (the input is read as utf-8)",
			"9 last@acme.com|Last|Acme|end"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "corpus", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			o := opts()
			if tt.file == "mixed.csv" {
				o.Dialect.Encoding = csvsource.UTF8 // keep its invalid row invalid
			}
			d, err := csvsource.NewDecoder(bytes.NewReader(data), o, nil)
			if err != nil {
				t.Fatalf("NewDecoder() error = %v", err)
			}
			if diff := cmp.Diff(tt.header, d.Header()); diff != "" {
				t.Errorf("Header() diff (-want +got):\n%s", diff)
			}
			got := drain(t, d)
			if diff := cmp.Diff(tt.want, strs(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows diff (-want +got):\n%s", diff)
			}
			if d.Offset() != int64(len(data)) {
				t.Errorf("Offset() at EOF = %d, want %d", d.Offset(), len(data))
			}
			checkResumeEverywhere(t, data, d.Header(), d.Dialect(), got)
		})
	}
}

// checkResumeEverywhere resumes at every outcome's cursor and checks that
// exactly the remaining outcomes follow.
func checkResumeEverywhere(t *testing.T, data []byte, header []string, dialect csvsource.Dialect, all []item) {
	t.Helper()
	for i, it := range all {
		c, err := csvsource.ParseCursor(it.cursor)
		if err != nil {
			t.Fatal(err)
		}
		o := opts()
		o.Dialect = dialect
		d, err := csvsource.NewDecoder(bytes.NewReader(data[c.Offset:]), o,
			&csvsource.Resume{Header: header, Offset: c.Offset, Line: c.Line})
		if err != nil {
			t.Fatalf("resume at %s: NewDecoder() error = %v", it.cursor, err)
		}
		rest := drain(t, d)
		if diff := cmp.Diff(all[i+1:], rest, cmp.AllowUnexported(item{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("resume after outcome %d (%s): diff (-want +got):\n%s", i, it.cursor, diff)
		}
	}
}

func TestDecoderContact(t *testing.T) {
	data, err := os.ReadFile("testdata/corpus/mixed.csv")
	if err != nil {
		t.Fatal(err)
	}
	d, err := csvsource.NewDecoder(bytes.NewReader(data), opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := contact.Mapping{contact.FieldEmail, contact.FieldFirstName, contact.FieldCompany, ""}
	if diff := cmp.Diff(want, d.Mapping()); diff != "" {
		t.Errorf("Mapping() diff (-want +got):\n%s", diff)
	}
	row, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantC := contact.Contact{Email: "ann@acme.com", FirstName: "Ann", Company: "Acme"}
	if row.Contact != wantC {
		t.Errorf("Contact = %+v, want %+v", row.Contact, wantC)
	}
	if row.Origin != "t" {
		t.Errorf("Origin = %q, want t", row.Origin)
	}
}

func TestDecoderLimits(t *testing.T) {
	huge := strings.Repeat("x", 300<<10) // longer than the read buffer
	tests := []struct {
		name     string
		in       string
		maxField int
		maxRec   int
		want     []string
	}{
		{"unbalanced quote stops at field limit",
			"email,n\na@b.com,\"xxxxxxxx\nb@b.com,1\nc@b.com,2\nd@b.com,3\ne@b.com,4\n", 10, 0,
			[]string{"2 ! field longer than 10 bytes (unbalanced quote?)", "3 b@b.com|1", "4 c@b.com|2", "5 d@b.com|3", "6 e@b.com|4"}},
		{"unbalanced quote stops at record limit",
			"email,n\na@b.com,\"x\nb@b.com,1\nc@b.com,2\nd@b.com,3\n", 0, 24,
			[]string{"2 ! record longer than 24 bytes (unbalanced quote?)", "3 b@b.com|1", "4 c@b.com|2", "5 d@b.com|3"}},
		{"long unquoted field", "email,n\na@b.com," + strings.Repeat("y", 40) + "\nb@b.com,1\n", 16, 0,
			[]string{"2 ! field longer than 16 bytes (unbalanced quote?)", "3 b@b.com|1"}},
		{"line longer than buffer and limit", "email,n\na@b.com," + huge + "\nb@b.com,1\n", 1000, 2000,
			[]string{"2 ! field longer than 1000 bytes (unbalanced quote?)", "3 b@b.com|1"}},
		{"quoted field longer than buffer within limits", "email,n\na@b.com,\"" + huge + "\n" + huge + "\"\nb@b.com,1\n", 0, 0,
			[]string{"2 a@b.com|" + huge + "\n" + huge, "4 b@b.com|1"}},
		{"unbalanced quote at the end", "email,n\nb@b.com,1\na@b.com,\"x\n", 0, 0,
			[]string{"2 b@b.com|1", "3 ! quoted field not closed before the end of the input (stray quote?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts()
			o.MaxFieldBytes, o.MaxRecordBytes = tt.maxField, tt.maxRec
			d, err := csvsource.NewDecoder(strings.NewReader(tt.in), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, d)
			if diff := cmp.Diff(tt.want, strs(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows diff (-want +got):\n%.2000s", diff)
			}
			if d.Offset() != int64(len(tt.in)) {
				t.Errorf("Offset() at EOF = %d, want %d", d.Offset(), len(tt.in))
			}
		})
	}
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name string
		opts csvsource.Options
		in   string
		at   *csvsource.Resume
		want string
	}{
		{"no MapHeader", csvsource.Options{}, "email\n", nil, "MapHeader is required"},
		{"mapping length", csvsource.Options{MapHeader: func([]string) (contact.Mapping, error) { return contact.Mapping{"email"}, nil }}, "a,b\n", nil, "mapping has 1 columns, header has 2"},
		{"unknown field", csvsource.Options{MapHeader: func([]string) (contact.Mapping, error) { return contact.Mapping{"shoe_size"}, nil }}, "a\n", nil, `unknown field "shoe_size"`},
		{"field twice", csvsource.Options{MapHeader: func([]string) (contact.Mapping, error) { return contact.Mapping{"email", "email"}, nil }}, "a,b\n", nil, `field "email" mapped twice`},
		{"map error", csvsource.Options{MapHeader: func([]string) (contact.Mapping, error) { return nil, errors.New("no email column") }}, "a\n", nil, "map header: no email column"},
		{"resume without header", opts(), "", &csvsource.Resume{Offset: 3}, "resume without a stored header"},
		{"bad header", opts(), "email,\"n\n", nil, "header line 1"},
		{"header spanning lines", opts(), "email,\"n\nx\"\n", nil, "holds line breaks inside a column name"},
		{"resume without dialect", opts(), "", &csvsource.Resume{Header: []string{"email"}, Offset: 3}, "resume without the input's dialect"},
		{"unknown encoding", csvsource.Options{MapHeader: mapHeader, Dialect: csvsource.Dialect{Encoding: "klingon"}}, "email\n", nil, "unsupported encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := csvsource.NewDecoder(strings.NewReader(tt.in), tt.opts, tt.at)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewDecoder() error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestDecoderContext(t *testing.T) {
	d, err := csvsource.NewDecoder(strings.NewReader("email\na\n"), opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next() error = %v, want context.Canceled", err)
	}
}
