package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// emulator serves the sandbox on a loopback port inside the bench process and
// timestamps the API requests it sees (sandbox control requests excluded).
type emulator struct {
	sb       *sandbox.Server
	srv      *http.Server
	url      string
	inflight atomic.Int64
	first    atomic.Int64 // unix nanos when the first API request since mark arrived; 0 if none
	last     atomic.Int64 // unix nanos when the last API request since mark was answered
}

// startEmulator listens on 127.0.0.1:0 and serves sandbox.New(opts).
func startEmulator(opts sandbox.Options) (*emulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	e := &emulator{sb: sandbox.New(opts), url: "http://" + ln.Addr().String()}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "batchbench: emulator: %v\n", err)
		}
	}()
	return e, nil
}

// ServeHTTP implements http.Handler around the sandbox.
func (e *emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox") {
		e.sb.ServeHTTP(w, r)
		return
	}
	e.first.CompareAndSwap(0, time.Now().UnixNano())
	e.inflight.Add(1)
	defer func() {
		e.inflight.Add(-1)
		e.last.Store(time.Now().UnixNano())
	}()
	e.sb.ServeHTTP(w, r)
}

// mark zeroes the sandbox counters and the timestamps.
func (e *emulator) mark() {
	e.sb.Reset()
	e.first.Store(0)
	e.last.Store(0)
}

// window returns the first request's arrival and the last answer since mark.
func (e *emulator) window() (first, last time.Time, ok bool) {
	f, l := e.first.Load(), e.last.Load()
	if f == 0 || l == 0 {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(0, f), time.Unix(0, l), true
}

// firstRequest returns when the first API request since mark arrived.
func (e *emulator) firstRequest() (time.Time, bool) {
	f := e.first.Load()
	return time.Unix(0, f), f != 0
}

// close stops the listener and releases held requests.
func (e *emulator) close() {
	e.sb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		_ = e.srv.Close()
	}
}

// requests sums the requests an endpoint received, over every status.
func requests(c sandbox.Counters, endpoint string) int64 {
	var n int64
	for _, v := range c.Requests[endpoint] {
		n += v
	}
	return n
}

// sum adds the values of m.
func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
