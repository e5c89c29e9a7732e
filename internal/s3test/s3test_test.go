package s3test_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/contactbatch/batch/internal/s3test"
)

func TestPutGetAndLog(t *testing.T) {
	s := s3test.Start(t, "a", "b")
	s.Put(t, "a", "dir/x.csv", []byte("hello"))
	s.Put(t, "b", "y", []byte("world"))
	if got := s.Get(t, "a", "dir/x.csv"); string(got) != "hello" {
		t.Errorf("Get(a) = %q, want hello", got)
	}
	if got := s.Get(t, "b", "y"); string(got) != "world" {
		t.Errorf("Get(b) = %q, want world", got)
	}
	if diff := cmp.Diff([]string{"/a/dir/x.csv ", "/b/y "}, s.Gets()); diff != "" {
		t.Errorf("Gets() diff (-want +got):\n%s", diff)
	}
	s.ResetLog()
	if got := s.Gets(); len(got) != 0 {
		t.Errorf("Gets() after ResetLog = %q", got)
	}
	b := s.Bucket(t, "a")
	ok, err := b.Exists(t.Context(), "dir/x.csv")
	if err != nil || !ok {
		t.Errorf("Exists() = %v, %v, want true", ok, err)
	}
	want := "s3://a/dir/?endpoint=" + url.QueryEscape(s.Endpoint()) + "&use_path_style=true&region=us-east-1"
	if got := s.URL("a", "dir/"); got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
}

func TestRangeLoggedAndCutNext(t *testing.T) {
	s := s3test.Start(t, "a")
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	s.Put(t, "a", "k", data)
	s.CutNext("a", "k", 1000)

	get := func(rng string) ([]byte, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.Endpoint()+"/a/k", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	got, err := get("")
	if err == nil || len(got) != 1000 || !bytes.Equal(got, data[:1000]) {
		t.Errorf("cut GET = %d bytes, error %v; want the first 1000 bytes and an error", len(got), err)
	}
	got, err = get("bytes=1000-")
	if err != nil || !bytes.Equal(got, data[1000:]) {
		t.Errorf("ranged GET = %d bytes, error %v; want the remaining %d bytes", len(got), err, len(data)-1000)
	}
	if got := s.Get(t, "a", "k"); !bytes.Equal(got, data) {
		t.Errorf("Get after the cut = %d bytes, want %d (only one GET is cut)", len(got), len(data))
	}
	want := []string{"/a/k ", "/a/k bytes=1000-", "/a/k "}
	if diff := cmp.Diff(want, s.Gets()); diff != "" {
		t.Errorf("Gets() diff (-want +got):\n%s", diff)
	}
}
