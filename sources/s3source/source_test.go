package s3source_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/s3test"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
	"github.com/contactbatch/batch/sources/s3source"
)

// bucket is the test bucket every object lives in.
const bucket = "contacts"

func mapHeader(header []string) (contact.Mapping, error) {
	m := make(contact.Mapping, len(header))
	for i, h := range header {
		switch strings.ToLower(h) {
		case "email":
			m[i] = contact.FieldEmail
		case "company":
			m[i] = contact.FieldCompany
		}
	}
	return m, nil
}

func opts() csvsource.Options { return csvsource.Options{MapHeader: mapHeader} }

// csvData makes a CSV with n rows, a quoted newline and a bad row.
func csvData(tag string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("email,company,notes\r\n")
	for i := range n {
		switch i % 50 {
		case 7:
			fmt.Fprintf(&b, "%s%d@x.com,\"Co %d\",\"two\nlines\"\r\n", tag, i, i)
		case 13:
			fmt.Fprintf(&b, "%s%d@x.com,ragged\r\n", tag, i)
		default:
			fmt.Fprintf(&b, "%s%d@x.com,\"Co, %d\",note %d\r\n", tag, i, i, i)
		}
	}
	return b.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// outcome is a row or reject without its origin and cursor.
type outcome struct {
	Line    int64
	Values  []string
	Contact contact.Contact
	Reject  string
}

type read struct {
	out    outcome
	cursor string
}

type nexter interface {
	Next(ctx context.Context) (pipeline.Row, error)
}

func drain(t *testing.T, s nexter) []read {
	t.Helper()
	var got []read
	for i := 0; i < 1_000_000; i++ {
		row, err := s.Next(context.Background())
		if err == io.EOF {
			return got
		}
		var re *pipeline.RowError
		switch {
		case errors.As(err, &re):
			got = append(got, read{outcome{Line: re.Line, Reject: re.Reason}, re.Cursor})
		case err != nil:
			t.Fatalf("Next() error = %v", err)
		default:
			got = append(got, read{outcome{row.Line, row.Values, row.Contact, ""}, row.Cursor})
		}
	}
	t.Fatal("no io.EOF")
	return nil
}

func outcomes(rs []read) []outcome {
	o := make([]outcome, len(rs))
	for i, r := range rs {
		o[i] = r.out
	}
	return o
}

func open(t *testing.T, rawURL, cursor string, header []string) *s3source.Source {
	t.Helper()
	s, err := s3source.Open(context.Background(), rawURL, opts(), cursor, header)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", cursor, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPrefixMatchesLocal reads three objects (one gzipped) under a prefix
// and the same bytes from local files (the conformance suite checks the
// resume at every cursor).
func TestPrefixMatchesLocal(t *testing.T) {
	f := s3test.Start(t, bucket)
	files := []struct {
		key  string
		data []byte
	}{
		{"in/a.csv", csvData("a", 60)},
		{"in/b.csv.gz", gz(t, csvData("b", 60))},
		{"in/c.csv", csvData("c", 60)},
	}
	dir := t.TempDir()
	var want []outcome
	for _, fl := range files {
		f.Put(t, bucket, fl.key, fl.data)
		p := filepath.Join(dir, filepath.Base(fl.key))
		if err := os.WriteFile(p, fl.data, 0o600); err != nil {
			t.Fatal(err)
		}
		ls, err := csvsource.Open(context.Background(), p, opts(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, outcomes(drain(t, ls))...)
		_ = ls.Close()
	}
	f.Put(t, bucket, "other/x.csv", []byte("nope\n"))

	s := open(t, f.URL(bucket, "in/"), "", nil)
	header := s.Header()
	if diff := cmp.Diff([]string{"email", "company", "notes"}, header); diff != "" {
		t.Errorf("Header() diff: %s", diff)
	}
	all := drain(t, s)
	if diff := cmp.Diff(want, outcomes(all)); diff != "" {
		t.Fatalf("s3 rows differ from local rows (-local +s3):\n%s", diff)
	}
	if len(all) != 180 {
		t.Errorf("got %d outcomes, want 180", len(all))
	}
}

// TestResumeRangedGET checks that a mid-object cursor reopens the object
// with a ranged GET at the cursor's offset.
func TestResumeRangedGET(t *testing.T) {
	f := s3test.Start(t, bucket)
	f.Put(t, bucket, "big.csv", csvData("r", 2000))
	s := open(t, f.URL(bucket, "big.csv"), "", nil)
	all := drain(t, s)
	mid := all[len(all)/2]
	c, err := csvsource.ParseCursor(mid.cursor) // the offset and line fields are shared
	if err != nil {
		t.Fatal(err)
	}
	f.ResetLog()
	o := opts()
	o.Dialect = s.Dialect() // as the first run stored it: no GET of the head
	s2, err := s3source.Open(context.Background(), f.URL(bucket, "big.csv"), o, mid.cursor, s.Header())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rest := drain(t, s2)
	if diff := cmp.Diff(outcomes(all[len(all)/2+1:]), outcomes(rest)); diff != "" {
		t.Fatalf("resumed rows diff (-want +got):\n%s", diff)
	}
	want := fmt.Sprintf("/contacts/big.csv bytes=%d-", c.Offset)
	if got := f.Gets(); !cmp.Equal(got, []string{want}) {
		t.Errorf("GET requests = %q, want [%q]", got, want)
	}
}

// TestReconnect cuts the connection once in the middle of an object: the
// source reopens at the last good offset and loses or repeats no row.
func TestReconnect(t *testing.T) {
	f := s3test.Start(t, bucket)
	data := csvData("k", 3000)
	f.Put(t, bucket, "big.csv", data)
	want := outcomes(drain(t, open(t, f.URL(bucket, "big.csv"), "", nil)))

	f.ResetLog()
	f.CutNext(bucket, "big.csv", 50_000)
	got := outcomes(drain(t, open(t, f.URL(bucket, "big.csv"), "", nil)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rows after a dropped connection differ (-want +got):\n%s", diff)
	}
	wantReq := []string{"/contacts/big.csv ", "/contacts/big.csv bytes=50000-"}
	if diff := cmp.Diff(wantReq, f.Gets()); diff != "" {
		t.Errorf("GET requests diff (-want +got):\n%s", diff)
	}
}

func TestChangedETagRefused(t *testing.T) {
	f := s3test.Start(t, bucket)
	f.Put(t, bucket, "in/a.csv", csvData("a", 20))
	s := open(t, f.URL(bucket, "in/"), "", nil)
	all := drain(t, s)
	f.Put(t, bucket, "in/a.csv", csvData("z", 20))
	_, err := s3source.Open(context.Background(), f.URL(bucket, "in/"), opts(), all[5].cursor, s.Header())
	if !errors.Is(err, s3source.ErrChanged) {
		t.Errorf("Open() error = %v, want ErrChanged", err)
	}
}

func TestOpenErrors(t *testing.T) {
	f := s3test.Start(t, bucket)
	f.Put(t, bucket, "in/a.csv", []byte("email,company\nx@y.com,Y\n"))
	f.Put(t, bucket, "in/b.csv", []byte("email,notes\nx@y.com,Y\n"))
	f.Put(t, bucket, "empty/a.csv", []byte(""))
	f.Put(t, bucket, "empty/b.csv", []byte("Email,Company\nx@y.com,Y\n"))
	// An empty first object is skipped: the header is the next one's.
	if got := open(t, f.URL(bucket, "empty/"), "", nil).Header(); !cmp.Equal(got, []string{"Email", "Company"}) {
		t.Errorf("Header() = %q", got)
	}
	s := open(t, f.URL(bucket, "in/"), "", nil)
	var err error
	for range 10 {
		if _, err = s.Next(context.Background()); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "does not match the first object") {
		t.Errorf("Next() error = %v, want a header mismatch", err)
	}
	tests := []struct{ name, url, cursor, want string }{
		{"not s3", "file:///tmp/x", "", "want s3://bucket/key"},
		{"missing key", f.URL(bucket, "nope.csv"), "", "stat nope.csv"},
		{"empty prefix", f.URL(bucket, "nothing/"), "", "no objects under"},
		{"bad cursor", f.URL(bucket, "in/a.csv"), "{", "parse cursor"},
		{"gone object", f.URL(bucket, "in/a.csv"), `{"k":"in/zz.csv","e":"x","o":3,"l":1}`, "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s3source.Open(context.Background(), tt.url, opts(), tt.cursor, []string{"email", "company"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open() error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	f := s3test.Start(t, bucket)
	f.Put(t, bucket, "in/a.csv", csvData("a", 5))
	a, err := s3source.Fingerprint(context.Background(), f.URL(bucket, "in/"))
	if err != nil {
		t.Fatal(err)
	}
	f.Put(t, bucket, "in/a.csv", csvData("b", 5))
	b, err := s3source.Fingerprint(context.Background(), f.URL(bucket, "in/"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("Fingerprint unchanged after overwrite: %s", a)
	}
}
