package customeros_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/customeros/sandbox"
)

// The client benchmarks compare VerifyEmail with a bare net/http GET of the
// same URL (key header set, body discarded) against the same server, at zero
// latency: the difference is the client's own per-call cost (request build,
// retry bookkeeping, body read, decode). Run with
//
//	go test -run x -bench . -benchmem -cpu 2 ./customeros/
//
// The Sandbox variants serve the sandbox (whose handler costs as much as the
// client); the Static variants serve one canned sandbox answer, so the
// server's share is small and the client's share shows.

// benchAddrs is a fixed set of addresses cycled by the benchmarks (a fixed
// set keeps the sandbox's per-key bookkeeping bounded).
func benchAddrs() []string {
	out := make([]string, 64)
	for i := range out {
		out[i] = "valid.person" + strconv.Itoa(i) + "@acme.com"
	}
	return out
}

func sandboxServer(b *testing.B, shape string) *httptest.Server {
	b.Helper()
	sb := sandbox.New(sandbox.Options{Seed: 1, Shape: shape})
	srv := httptest.NewServer(sb)
	b.Cleanup(func() { srv.Close(); sb.Close() })
	return srv
}

// staticServer answers every request with the sandbox's answer for one
// address, rendered once.
func staticServer(b *testing.B, shape string) *httptest.Server {
	b.Helper()
	sb := sandbox.New(sandbox.Options{Seed: 1, Shape: shape})
	defer sb.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/verify/v1/email?address=valid.jane%40acme.com&verifyCatchAll=true", nil)
	req.Header.Set(customeros.APIKeyHeader, key)
	sb.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("sandbox answered %d", rec.Code)
	}
	body, ctype := rec.Body.Bytes(), rec.Header().Get("Content-Type")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchVerify(b *testing.B, srv *httptest.Server) {
	c := customeros.New(srv.URL, key)
	addrs := benchAddrs()
	ctx := context.Background()
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(8) // 16 goroutines at -cpu 2
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			addr := addrs[next.Add(1)%uint64(len(addrs))]
			v, err := c.VerifyEmail(ctx, addr)
			if err != nil {
				b.Error(err)
				return
			}
			if v.Email == "" {
				b.Error("empty verification")
				return
			}
		}
	})
}

func benchBareGet(b *testing.B, srv *httptest.Server) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	hc := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	addrs := benchAddrs()
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = srv.URL + "/verify/v1/email?" + url.Values{"address": {a}, "verifyCatchAll": {"true"}}.Encode()
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodGet, urls[next.Add(1)%uint64(len(urls))], nil)
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set(customeros.APIKeyHeader, key)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkVerifyEmail(b *testing.B) {
	for _, shape := range []string{sandbox.ShapeCurrent, sandbox.ShapeLegacy} {
		b.Run("Sandbox/"+shape, func(b *testing.B) { benchVerify(b, sandboxServer(b, shape)) })
		b.Run("Static/"+shape, func(b *testing.B) { benchVerify(b, staticServer(b, shape)) })
	}
}

func BenchmarkBareGet(b *testing.B) {
	for _, shape := range []string{sandbox.ShapeCurrent, sandbox.ShapeLegacy} {
		b.Run("Sandbox/"+shape, func(b *testing.B) { benchBareGet(b, sandboxServer(b, shape)) })
		b.Run("Static/"+shape, func(b *testing.B) { benchBareGet(b, staticServer(b, shape)) })
	}
}
