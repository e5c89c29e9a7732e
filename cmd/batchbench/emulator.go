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
	marked   atomic.Int64 // unix nanos of the last mark (or start)
	first    atomic.Int64 // unix nanos when the first API request since mark arrived; 0 if none
	last     atomic.Int64 // unix nanos when the last API request since mark was answered
	// track is a request path whose arrivals are timed separately (for
	// example /enrich/v1/person, without its polls); set before use.
	track                 string
	trackFirst, trackLast atomic.Int64
	// timeline counts answers per second since mark: [second][0] 2xx,
	// [1] 429, [2] other; bounded to timelineLen seconds.
	timeline [timelineLen][3]atomic.Int64
}

const timelineLen = 600

// startEmulator listens on 127.0.0.1:0 and serves sandbox.New(opts).
func startEmulator(opts sandbox.Options) (*emulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	e := &emulator{sb: sandbox.New(opts), url: "http://" + ln.Addr().String()}
	e.marked.Store(time.Now().UnixNano())
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
	now := time.Now().UnixNano()
	e.first.CompareAndSwap(0, now)
	if e.track != "" && r.URL.Path == e.track {
		e.trackFirst.CompareAndSwap(0, now)
		e.trackLast.Store(now)
	}
	e.inflight.Add(1)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		e.inflight.Add(-1)
		end := time.Now().UnixNano()
		e.last.Store(end)
		if sec := (end - e.marked.Load()) / 1e9; sec >= 0 && sec < timelineLen {
			k := 2
			switch {
			case sw.status == http.StatusTooManyRequests:
				k = 1
			case sw.status < 300:
				k = 0
			}
			e.timeline[sec][k].Add(1)
		}
	}()
	e.sb.ServeHTTP(sw, r)
}

// mark zeroes the sandbox counters and the timestamps.
func (e *emulator) mark() {
	e.sb.Reset()
	e.first.Store(0)
	e.last.Store(0)
	e.trackFirst.Store(0)
	e.trackLast.Store(0)
	for i := range e.timeline {
		for k := range e.timeline[i] {
			e.timeline[i][k].Store(0)
		}
	}
	e.marked.Store(time.Now().UnixNano())
}

// perSecondOK429 returns the answers per second since mark as "ok/429"
// strings (other statuses left out), up to the last second that saw any.
func (e *emulator) perSecondOK429() []string {
	var out []string
	last := -1
	for i := range e.timeline {
		a, b, c := e.timeline[i][0].Load(), e.timeline[i][1].Load(), e.timeline[i][2].Load()
		if a+b+c > 0 {
			last = i
		}
		out = append(out, fmt.Sprintf("%d/%d", a, b))
	}
	return out[:last+1]
}

// first429s returns the 429s answered in the first n seconds since mark.
func (e *emulator) first429s(n int) int64 {
	var c int64
	for i := range min(n, timelineLen) {
		c += e.timeline[i][1].Load()
	}
	return c
}

// statusWriter remembers the status an http.Handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trackWindow returns the first and last arrival of a request for track.
func (e *emulator) trackWindow() time.Duration {
	return time.Duration(e.trackLast.Load() - e.trackFirst.Load())
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

// sum adds the values of m.
func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
