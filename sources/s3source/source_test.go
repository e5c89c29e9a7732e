package s3source_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
	"github.com/contactbatch/batch/sources/s3source"
)

// fakeS3 is gofakes3 in process, behind a handler that logs GET Range
// headers and can cut one response body after a number of bytes.
type fakeS3 struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []string // "GET /bucket/key range"
	// cutKey's next GET body is cut after cutAfter bytes (once).
	cutKey   string
	cutAfter int
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	backend := s3mem.New()
	if err := backend.CreateBucket("contacts"); err != nil {
		t.Fatal(err)
	}
	f := &fakeS3{}
	h := gofakes3.New(backend).Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && strings.Count(r.URL.Path, "/") > 1 {
			f.mu.Lock()
			f.log = append(f.log, "GET "+r.URL.Path+" "+r.Header.Get("Range"))
			cut := f.cutKey != "" && r.URL.Path == "/contacts/"+f.cutKey
			n := f.cutAfter
			if cut {
				f.cutKey = ""
			}
			f.mu.Unlock()
			if cut {
				w = &cutWriter{ResponseWriter: w, left: n}
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeS3) url(key string) string {
	return "s3://contacts/" + key + "?endpoint=" + url.QueryEscape(f.srv.URL) + "&use_path_style=true&region=us-east-1"
}

func (f *fakeS3) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeS3) reset() {
	f.mu.Lock()
	f.log = nil
	f.mu.Unlock()
}

func (f *fakeS3) put(t *testing.T, key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	u, _ := url.Parse(f.url(""))
	q := u.Query()
	q.Set("response_checksum_validation", "when_required")
	u.Path, u.RawQuery = "", q.Encode()
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, key, data, &blob.WriterOptions{}); err != nil {
		t.Fatal(err)
	}
}

// cutWriter passes left bytes of the body, then drops the connection.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) <= c.left {
		c.left -= len(p)
		return c.ResponseWriter.Write(p)
	}
	_, _ = c.ResponseWriter.Write(p[:c.left])
	if fl, ok := c.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	panic(http.ErrAbortHandler)
}

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
// and the same bytes from local files, then resumes at every cursor.
func TestPrefixMatchesLocal(t *testing.T) {
	f := newFakeS3(t)
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
		f.put(t, fl.key, fl.data)
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
	f.put(t, "other/x.csv", []byte("nope\n"))

	s := open(t, f.url("in/"), "", nil)
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
	for i := 0; i < len(all); i++ {
		rest := drain(t, open(t, f.url("in/"), all[i].cursor, header))
		if diff := cmp.Diff(outcomes(all[i+1:]), outcomes(rest), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("resume after %d (%s) diff (-want +got):\n%s", i, all[i].cursor, diff)
		}
	}
}

// TestResumeRangedGET checks that a mid-object cursor reopens the object
// with a ranged GET at the cursor's offset.
func TestResumeRangedGET(t *testing.T) {
	f := newFakeS3(t)
	f.put(t, "big.csv", csvData("r", 2000))
	s := open(t, f.url("big.csv"), "", nil)
	all := drain(t, s)
	mid := all[len(all)/2]
	c, err := csvsource.ParseCursor(mid.cursor) // the offset and line fields are shared
	if err != nil {
		t.Fatal(err)
	}
	f.reset()
	rest := drain(t, open(t, f.url("big.csv"), mid.cursor, s.Header()))
	if diff := cmp.Diff(outcomes(all[len(all)/2+1:]), outcomes(rest)); diff != "" {
		t.Fatalf("resumed rows diff (-want +got):\n%s", diff)
	}
	want := fmt.Sprintf("GET /contacts/big.csv bytes=%d-", c.Offset)
	if got := f.requests(); !cmp.Equal(got, []string{want}) {
		t.Errorf("GET requests = %q, want [%q]", got, want)
	}
}

// TestReconnect cuts the connection once in the middle of an object: the
// source reopens at the last good offset and loses or repeats no row.
func TestReconnect(t *testing.T) {
	f := newFakeS3(t)
	data := csvData("k", 3000)
	f.put(t, "big.csv", data)
	want := outcomes(drain(t, open(t, f.url("big.csv"), "", nil)))

	f.reset()
	f.mu.Lock()
	f.cutKey, f.cutAfter = "big.csv", 50_000
	f.mu.Unlock()
	got := outcomes(drain(t, open(t, f.url("big.csv"), "", nil)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rows after a dropped connection differ (-want +got):\n%s", diff)
	}
	wantReq := []string{"GET /contacts/big.csv ", "GET /contacts/big.csv bytes=50000-"}
	if diff := cmp.Diff(wantReq, f.requests()); diff != "" {
		t.Errorf("GET requests diff (-want +got):\n%s", diff)
	}
}

func TestChangedETagRefused(t *testing.T) {
	f := newFakeS3(t)
	f.put(t, "in/a.csv", csvData("a", 20))
	s := open(t, f.url("in/"), "", nil)
	all := drain(t, s)
	f.put(t, "in/a.csv", csvData("z", 20))
	_, err := s3source.Open(context.Background(), f.url("in/"), opts(), all[5].cursor, s.Header())
	if !errors.Is(err, s3source.ErrChanged) {
		t.Errorf("Open() error = %v, want ErrChanged", err)
	}
}

func TestOpenErrors(t *testing.T) {
	f := newFakeS3(t)
	f.put(t, "in/a.csv", []byte("email,company\nx@y.com,Y\n"))
	f.put(t, "in/b.csv", []byte("email,notes\nx@y.com,Y\n"))
	f.put(t, "empty/a.csv", []byte(""))
	f.put(t, "empty/b.csv", []byte("Email,Company\nx@y.com,Y\n"))
	// An empty first object is skipped: the header is the next one's.
	if got := open(t, f.url("empty/"), "", nil).Header(); !cmp.Equal(got, []string{"Email", "Company"}) {
		t.Errorf("Header() = %q", got)
	}
	s := open(t, f.url("in/"), "", nil)
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
		{"missing key", f.url("nope.csv"), "", "stat nope.csv"},
		{"empty prefix", f.url("nothing/"), "", "no objects under"},
		{"bad cursor", f.url("in/a.csv"), "{", "parse cursor"},
		{"gone object", f.url("in/a.csv"), `{"k":"in/zz.csv","e":"x","o":3,"l":1}`, "gone"},
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
	f := newFakeS3(t)
	f.put(t, "in/a.csv", csvData("a", 5))
	a, err := s3source.Fingerprint(context.Background(), f.url("in/"))
	if err != nil {
		t.Fatal(err)
	}
	f.put(t, "in/a.csv", csvData("b", 5))
	b, err := s3source.Fingerprint(context.Background(), f.url("in/"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("Fingerprint unchanged after overwrite: %s", a)
	}
}
