package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// s3server is gofakes3 on loopback with a log of object GETs and their
// Range headers.
type s3server struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []string
}

func startS3(t *testing.T) *s3server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	backend := s3mem.New()
	if err := backend.CreateBucket("contacts"); err != nil {
		t.Fatal(err)
	}
	s := &s3server{}
	h := gofakes3.New(backend).Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && strings.Count(r.URL.Path, "/") > 1 {
			s.mu.Lock()
			s.log = append(s.log, r.URL.Path+" "+r.Header.Get("Range"))
			s.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *s3server) url(key string) string {
	return "s3://contacts/" + key + "?endpoint=" + url.QueryEscape(s.srv.URL) + "&use_path_style=true&region=us-east-1"
}

func (s *s3server) gets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *s3server) bucket(t *testing.T) *blob.Bucket {
	t.Helper()
	u, _ := url.Parse("s3://contacts?endpoint=" + url.QueryEscape(s.srv.URL) +
		"&use_path_style=true&region=us-east-1&response_checksum_validation=when_required")
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func (s *s3server) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if err := s.bucket(t).WriteAll(context.Background(), key, data, nil); err != nil {
		t.Fatal(err)
	}
}

func (s *s3server) get(t *testing.T, key string) []byte {
	t.Helper()
	b, err := s.bucket(t).ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// part renders rows [from, to) of a contact list with a header.
func part(from, to int) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"id", "Email", "Company"})
	for i := from; i < to; i++ {
		w.Write([]string{fmt.Sprint(i), fmt.Sprintf("lead%d@org%d.com", i, i%31), fmt.Sprintf("Org %d", i%31)})
	}
	w.Flush()
	return b.Bytes()
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write(data)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestS3PrefixRoundTrip reads a prefix of three objects (one gzipped) from
// S3, writes the result back to S3, and compares it with the same data read
// from and written to local files.
func TestS3PrefixRoundTrip(t *testing.T) {
	s3 := startS3(t)
	em := startEmulator(t, sandbox.DefaultOptions())
	s3.put(t, "drop/a.csv", part(0, 300))
	s3.put(t, "drop/b.csv.gz", gzipped(t, part(300, 600)))
	s3.put(t, "drop/c.csv", part(600, 900))

	dir := t.TempDir()
	local := filepath.Join(dir, "all.csv")
	os.WriteFile(local, part(0, 900), 0o644)
	localOut := filepath.Join(dir, "local-out.csv")
	mustRun(t, em.URL, "run", "-i", local, "-o", localOut, "--verify", "--enrich-org", "--cache", filepath.Join(dir, "c1.db"), "--progress", "none")

	mustRun(t, em.URL, "run", "-i", s3.url("drop/"), "-o", s3.url("results/out.csv"), "--state", filepath.Join(dir, "s3.state"),
		"--verify", "--enrich-org", "--cache", filepath.Join(dir, "c2.db"), "--progress", "none")
	got, want := s3.get(t, "results/out.csv"), readFile(t, localOut)
	if !bytes.Equal(got, want) {
		t.Errorf("S3 output (%d bytes) differs from the local run's (%d bytes)", len(got), len(want))
	}
}

// TestS3KillResumesWithRangedGET kills a run in the middle of a large
// object and checks that the rerun continues with a ranged GET and that the
// output has every row exactly once.
func TestS3KillResumesWithRangedGET(t *testing.T) {
	s3 := startS3(t)
	opts := sandbox.DefaultOptions()
	opts.Latency = 3 * time.Millisecond
	em := startEmulator(t, opts)
	const rows = 6000
	s3.put(t, "big/contacts.csv", part(0, rows))
	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "-i", s3.url("big/contacts.csv"), "-o", out, "--verify", "--no-cache", "--progress", "none", "--workers", "8"}

	cmd := batchCmd(t, em.URL, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Let it commit part of the object, then kill it.
	for deadline := time.Now().Add(20 * time.Second); em.requests(sandbox.EpVerify) < rows/3; {
		if time.Now().After(deadline) {
			t.Fatalf("no progress\n%s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("run was not killed: %v", err)
	}
	before := len(s3.gets())
	mustRun(t, em.URL, args...)
	resumed := s3.gets()[before:]
	ranged := false
	for _, g := range resumed {
		if strings.HasPrefix(g, "/contacts/big/contacts.csv bytes=") && !strings.HasSuffix(g, "bytes=0-") {
			ranged = true
		}
		if g == "/contacts/big/contacts.csv " {
			t.Errorf("the rerun read the object from the start: %q", resumed)
		}
	}
	if !ranged {
		t.Errorf("the rerun made no ranged GET: %q", resumed)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs[1:] {
		seen[r[0]]++
	}
	lost, dup := 0, 0
	for i := range rows {
		switch seen[fmt.Sprint(i)] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	if lost != 0 || dup != 0 || len(recs)-1 != rows {
		t.Errorf("rows lost %d, duplicated %d, output rows %d (want %d)", lost, dup, len(recs)-1, rows)
	}
}
