package csvsource_test

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

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

// drainSource reads s to the end: outcomes with the cursor after each.
func drainSource(t *testing.T, s *csvsource.Source) []item {
	t.Helper()
	var out []item
	for i := 0; i < 1_000_000; i++ {
		row, err := s.Next(context.Background())
		if err == io.EOF {
			return out
		}
		var re *pipeline.RowError
		switch {
		case errors.As(err, &re):
			out = append(out, item{re.Origin + " " + strings.TrimSpace(re.Error()), re.Cursor})
		case err != nil:
			t.Fatalf("Next() error = %v", err)
		default:
			out = append(out, item{row.Origin + " " + strings.Join(row.Values, "|"), row.Cursor})
		}
	}
	t.Fatal("Next never returned io.EOF")
	return nil
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestStdinOrigin checks what the conformance suite leaves to each source:
// the origin of stdin rows and the fingerprint of a stream.
func TestStdinOrigin(t *testing.T) {
	o := csvsource.Options{MapHeader: mapHeader, Stdin: strings.NewReader("email\nann@acme.com\n")}
	s, err := csvsource.Open(context.Background(), "-", o, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := drainSource(t, s)
	if len(all) != 1 || !strings.HasPrefix(all[0].s, "- ann@acme.com") {
		t.Errorf("rows = %q, want one from origin -", strs(all))
	}
	if !strings.HasPrefix(s.Fingerprint(), "stdin head=") {
		t.Errorf("Fingerprint() = %q", s.Fingerprint())
	}
}

// TestSourceSeeks checks that a plain file resumes by seeking: bytes
// before the offset are garbage and must never be read.
func TestSourceSeeks(t *testing.T) {
	data := []byte("email,n\nGARBAGE\"\"\"\xff\x00\nb@b.com,2\n")
	p := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	off := bytes.Index(data, []byte("b@b.com"))
	cur := csvsource.FormatCursor(int64(off), 2)
	s, err := csvsource.Open(context.Background(), p, csvsource.Options{MapHeader: mapHeader}, cur, []string{"email", "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	row, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if row.Line != 3 || row.Contact.Email != "b@b.com" {
		t.Errorf("Next() = line %d %+v, want line 3 b@b.com", row.Line, row.Contact)
	}
}

func TestSourceErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(p, []byte("email\na\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	z := filepath.Join(dir, "in.csv.gz")
	if err := os.WriteFile(z, gz(t, []byte("email\na\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, cursor, want string
	}{
		{"missing", filepath.Join(dir, "nope.csv"), "", "no such file"},
		{"bad cursor", p, "{", "parse cursor"},
		{"gzip shorter than offset", z, `{"o":99,"l":2}`, "before the resume offset 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := csvsource.Open(context.Background(), tt.path, csvsource.Options{MapHeader: mapHeader}, tt.cursor, []string{"email"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open() error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(p, []byte("email\na\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := csvsource.Fingerprint(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("email\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := csvsource.Fingerprint(p)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("Fingerprint unchanged after rewrite: %q", a)
	}
	if _, err := csvsource.Fingerprint("-"); err == nil {
		t.Error("Fingerprint(-) error = nil, want one")
	}
}

// TestStdinResumeChecksPrefix: a stdin row cursor past the first MiB
// carries a checkpoint of the input's first bytes. Resuming with the same
// input works; with input that differs after the first 64 KiB (which the
// job fingerprint covers) but before the checkpoint, Open refuses.
func TestStdinResumeChecksPrefix(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("email,n\n")
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "user%d@example.com,%d\n", i, i)
	}
	data := b.Bytes()
	ctx := context.Background()
	open := func(in []byte, cursor string, header []string) (*csvsource.Source, error) {
		return csvsource.Open(ctx, "-", csvsource.Options{MapHeader: mapHeader, Stdin: bytes.NewReader(in)}, cursor, header)
	}
	s, err := open(data, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	header := s.Header()
	var cursor, next string
	for {
		row, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := csvsource.ParseCursor(row.Cursor); c.Offset > 2<<20 {
			if c.Prefix == "" || !strings.HasPrefix(c.Prefix, "2097152:") {
				t.Fatalf("cursor %s: want the checkpoint at 2 MiB", row.Cursor)
			}
			if cursor == "" {
				cursor = row.Cursor
				continue
			}
			next = row.Values[0]
			break
		}
	}
	s.Close()

	s, err = open(data, cursor, header)
	if err != nil {
		t.Fatalf("resume with the same input: %v", err)
	}
	row, err := s.Next(ctx)
	s.Close()
	if err != nil || row.Values[0] != next {
		t.Fatalf("resumed at %v, %v; want %s", row.Values, err, next)
	}

	changed := bytes.Clone(data)
	i := bytes.Index(changed[100<<10:], []byte("user")) + 100<<10
	changed[i] = 'U' // after the fingerprinted head, before the checkpoint
	if _, err := open(changed, cursor, header); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("resume with changed input = %v, want a refusal", err)
	}
}
