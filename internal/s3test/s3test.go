// Package s3test runs an in-process S3 server (gofakes3 with an in-memory
// backend) on loopback for tests. It is for tests only: import it from
// _test.go files, never from production code.
package s3test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// Region is the region every URL made by a Server names.
const Region = "us-east-1"

// Server is gofakes3 in process behind an httptest server on loopback. It
// logs object GETs with their Range header and can cut the body of one
// object's next GET. Start it with Start.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	gets     []string // "/bucket/key <Range header>"
	cutPath  string   // the next GET of this path is cut; "" for none
	cutAfter int
	cutDown  bool // the cut takes the server down (see CutNextThenDown)
	down     bool // every request is dropped unanswered (see SetDown)
}

// Start starts a Server with the given buckets and closes it when the test
// ends. It points the AWS SDK at fake credentials and region and away from
// the EC2 metadata service and the user's config files, with t.Setenv, so
// the test (and any subprocess inheriting the environment) uses no real
// AWS account. Because of t.Setenv, the test must not be parallel.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("create bucket %q: %v", b, err)
		}
	}
	s := &Server{}
	h := gofakes3.New(backend).Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if down {
			panic(http.ErrAbortHandler) // the connection closes with no answer
		}
		if isObjectGET(r) {
			s.mu.Lock()
			s.gets = append(s.gets, r.URL.Path+" "+r.Header.Get("Range"))
			cut := s.cutPath != "" && r.URL.Path == s.cutPath && (!s.cutDown || streaming(r))
			n, takeDown := s.cutAfter, s.cutDown
			if cut {
				s.cutPath, s.cutDown = "", false
			}
			s.mu.Unlock()
			if cut {
				w = &cutWriter{ResponseWriter: w, left: n, cut: func() {
					if takeDown {
						s.SetDown(true)
					}
				}}
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// isObjectGET reports whether r reads an object (path-style
// "/bucket/key", not a listing).
func isObjectGET(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && strings.Count(r.URL.Path, "/") > 1
}

// Endpoint returns the server's base URL, "http://127.0.0.1:port".
func (s *Server) Endpoint() string { return s.srv.URL }

// URL returns the s3:// URL of key in bucket on this server, with the
// endpoint, path-style addressing and region as query parameters. An empty
// key or one ending in "/" names a prefix.
func (s *Server) URL(bucket, key string) string {
	return "s3://" + bucket + "/" + key + "?endpoint=" + url.QueryEscape(s.srv.URL) + "&use_path_style=true&region=" + Region
}

// Bucket opens bucket on this server (with response checksum validation
// only when required, which gofakes3 needs) and closes it when the test
// ends.
func (s *Server) Bucket(t testing.TB, bucket string) *blob.Bucket {
	t.Helper()
	b := s.open(t, bucket)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func (s *Server) open(t testing.TB, bucket string) *blob.Bucket {
	t.Helper()
	u, err := url.Parse("s3://" + bucket + "?endpoint=" + url.QueryEscape(s.srv.URL) +
		"&use_path_style=true&region=" + Region + "&response_checksum_validation=when_required")
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(context.Background(), u)
	if err != nil {
		t.Fatalf("open bucket %q: %v", bucket, err)
	}
	return b
}

// Put writes data to key in bucket, failing the test on error.
func (s *Server) Put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	b := s.open(t, bucket)
	defer b.Close()
	if err := b.WriteAll(context.Background(), key, data, nil); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// Get reads key in bucket, failing the test on error.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	b := s.open(t, bucket)
	defer b.Close()
	data, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return data
}

// Gets returns the object GETs served so far, oldest first, each as
// "/bucket/key <Range header>" (the header empty when absent, so a plain
// GET is "/bucket/key "). Put and Get of this Server are logged too.
func (s *Server) Gets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.gets...)
}

// ResetLog empties the log Gets returns.
func (s *Server) ResetLog() {
	s.mu.Lock()
	s.gets = nil
	s.mu.Unlock()
}

// CutNext makes the next GET of key in bucket send only the first after
// bytes of its body, then drop the connection. Only that one GET is cut.
func (s *Server) CutNext(bucket, key string, after int) {
	s.mu.Lock()
	s.cutPath, s.cutAfter = "/"+bucket+"/"+key, after
	s.mu.Unlock()
}

// streaming reports whether r reads an object to its end (no Range, or an
// open-ended one), as a source's read does, not a bounded sniff of its head.
func streaming(r *http.Request) bool {
	rg := r.Header.Get("Range")
	return rg == "" || strings.HasSuffix(rg, "-")
}

// CutNextThenDown is CutNext for the next GET that reads key to its end
// (a bounded ranged GET, such as a sniff of the head, is served whole),
// and the server goes down when it cuts: every
// later request is dropped unanswered until SetDown(false). This is a
// storage outage in the middle of a read, placed by bytes, not by time.
func (s *Server) CutNextThenDown(bucket, key string, after int) {
	s.mu.Lock()
	s.cutPath, s.cutAfter, s.cutDown = "/"+bucket+"/"+key, after, true
	s.mu.Unlock()
}

// SetDown takes the server down (every request's connection is closed
// without an answer, as by a crashed or restarting server) or brings it
// back up.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// cutWriter passes left bytes of the body, then drops the connection
// (calling cut first, when set).
type cutWriter struct {
	http.ResponseWriter
	left int
	cut  func()
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
	if c.cut != nil {
		c.cut()
	}
	panic(http.ErrAbortHandler)
}
