package s3sink_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/contactbatch/batch/internal/s3test"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
	"github.com/contactbatch/batch/sinks/s3sink"
)

// server starts an S3 server with the bucket "out" and returns an object
// URL maker and the bucket, opened for checks.
func server(t *testing.T) (func(key string) string, *blob.Bucket) {
	t.Helper()
	s := s3test.Start(t, "out")
	return func(key string) string { return s.URL("out", key) }, s.Bucket(t, "out")
}

func options() filesink.Options {
	o := filesink.DefaultOptions()
	o.Schema = pipeline.Schema{Input: []string{"email"}, Result: []string{"verdict"}}
	return o
}

func write(t *testing.T, s *s3sink.Sink, emails ...string) {
	t.Helper()
	for i, e := range emails {
		out := &pipeline.Output{Seq: int64(i), Line: int64(i + 2), Values: []string{e}, Result: []string{"deliverable"}}
		if err := s.Write(context.Background(), out); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(t *testing.T, b *blob.Bucket, key string) bool {
	t.Helper()
	ok, err := b.Exists(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

const want = "email,verdict\na@x.com,deliverable\nb@x.com,deliverable\nc@x.com,deliverable\n"

// TestUploadedObject checks what the conformance suite does not: the
// object's content type and the staged file's removal.
func TestUploadedObject(t *testing.T) {
	objURL, b := server(t)
	ctx := context.Background()
	staging := filepath.Join(t.TempDir(), "out.csv")
	s, err := s3sink.Open(ctx, objURL("res/out.csv"), staging, options(), "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, "a@x.com", "b@x.com", "c@x.com")
	if _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	got, err := b.ReadAll(ctx, "res/out.csv")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("object = %q, want %q", got, want)
	}
	a, err := b.Attributes(ctx, "res/out.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ContentType, "text/csv") {
		t.Errorf("ContentType = %q, want text/csv", a.ContentType)
	}
	if _, err := os.Stat(staging); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staged file left behind: %v", err)
	}
}

// TestCanceledUpload leaves no object and keeps the staged file; a second
// Close uploads it.
func TestCanceledUpload(t *testing.T) {
	objURL, b := server(t)
	staging := filepath.Join(t.TempDir(), "out.csv")
	s, err := s3sink.Open(context.Background(), objURL("out.csv"), staging, options(), "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, "a@x.com", "b@x.com", "c@x.com")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx); err == nil {
		t.Fatal("Close(canceled) error = nil")
	}
	if exists(t, b, "out.csv") {
		t.Fatal("object visible after a canceled upload")
	}
	if _, err := os.Stat(staging); err != nil {
		t.Fatalf("staged file gone after a failed upload: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("retry Close() error = %v", err)
	}
	got, _ := b.ReadAll(context.Background(), "out.csv")
	if string(got) != want {
		t.Errorf("object = %q, want %q", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	objURL, _ := server(t)
	tests := []struct{ name, url, want string }{
		{"no key", objURL(""), "want s3://bucket/key"},
		{"prefix", objURL("dir/"), "want s3://bucket/key"},
		{"not s3", "file:///tmp/x.csv", "want s3://bucket/key"},
		{"bad option", objURL("x.csv") + "&bogus=1", "open bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s3sink.Open(context.Background(), tt.url, filepath.Join(t.TempDir(), "o.csv"), options(), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open() error = %v, want containing %q", err, tt.want)
			}
		})
	}
}
