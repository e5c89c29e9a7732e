package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Shapes of answers.
const (
	ShapeCurrent = "current"
	ShapeLegacy  = "legacy"
	ShapeMixed   = "mixed"
)

// Endpoint names used in Counters (the same strings as customeros.Endpoint).
const (
	EpVerify       = "verify"
	EpPerson       = "person"
	EpPersonPoll   = "person_poll"
	EpOrganization = "organization"
	EpBulkSubmit   = "bulk_submit"
	EpBulkStatus   = "bulk_status"
	EpBulkDownload = "bulk_download"
)

// Options configure a Server. The zero value is a well-behaved server
// (current shape, any non-empty key, no faults, no latency, unlimited).
type Options struct {
	// Shape is "current" (default), "legacy" or "mixed" (per request key:
	// hash(seed, key) picks the shape, so one run sees both).
	Shape string
	// APIKey, if set, is the only key accepted; otherwise any non-empty key
	// is, except keys starting "disabled" (401 "Api key disabled").
	APIKey string
	// Latency is added to every API request, plus a uniform extra in
	// [0, Jitter) decided per (seed, endpoint, key, n).
	Latency, Jitter time.Duration
	// RateLimit is requests/s per token bucket (0 = off), with RateBurst
	// (default max(1, the current limit)); excess gets 429 with
	// Retry-After in whole seconds (at least 1). RateScope picks the
	// buckets (RateShared, the default: one for every endpoint;
	// RateEndpoint; RateKey), and RateSchedule changes the limit during a
	// run.
	RateLimit    float64
	RateBurst    int
	RateScope    string
	RateSchedule []RateStep
	// Fractions of requests that get a fault: 500 (enrich/verify error
	// body), 502 (HTML gateway page), 503 (with Retry-After: 1), a
	// connection reset (no answer, before the handler, not billed), a hang,
	// a truncated 2xx body (after the handler: billed, answer lost).
	Fail500, Fail502, Fail503, Reset, Hang, Truncate float64
	// HangFor bounds a hang (0 = until the client gives up or Close); after
	// it the request is answered normally.
	HangFor time.Duration
	// AsyncFraction of person lookups (decided per seed and key) answer 202
	// and complete AsyncDelay (default 5 s) after the first call.
	AsyncFraction float64
	AsyncDelay    time.Duration
	// BulkDelay is how long a bulk job stays "processing" (default 10 s).
	BulkDelay time.Duration
	// Credits (0 = unlimited): once this many billable events happened,
	// billable endpoints answer 402.
	Credits int64
	// Seed drives faults, latency jitter, async choice, mixed shapes and ids.
	Seed int64
}

// DefaultOptions returns the options of `batch sandbox` without flags. The
// zero Options differ on purpose: zero delays complete at once and seed 0
// is a seed (see internal/defaults).
func DefaultOptions() Options {
	return Options{Shape: ShapeCurrent, AsyncDelay: 5 * time.Second, BulkDelay: 10 * time.Second, Seed: 1}
}

// Counters is a snapshot of what the server saw (GET /_sandbox/counters).
type Counters struct {
	// Total counts API requests (sandbox control requests excluded).
	Total int64 `json:"total"`
	// Requests counts requests per endpoint and HTTP status; status 0 means
	// no answer (reset, or the client gave up during a hang or latency).
	Requests map[string]map[int]int64 `json:"requests"`
	// Billable counts billable events per endpoint (bulk: per record).
	Billable map[string]int64 `json:"billable"`
	// RepeatedBillable counts billable events for an (endpoint, key) that
	// had already been billed: money spent twice.
	RepeatedBillable map[string]int64 `json:"repeated_billable"`
	// UniqueKeys counts distinct request keys per endpoint.
	UniqueKeys map[string]int64 `json:"unique_keys"`
	// Faults counts injected faults: "429", "402", "500", "502", "503",
	// "reset", "hang", "truncate", "down" (SetDown) and "key_<status>"
	// (FailKeys).
	Faults map[string]int64 `json:"faults"`
	// PeakConcurrent is the highest number of API requests in flight.
	PeakConcurrent int64 `json:"peak_concurrent"`
}

// Server is the emulator; it is an http.Handler.
type Server struct {
	opts   Options
	seed   string
	mux    *http.ServeMux
	limits *limits // nil: no rate limit
	closed chan struct{}
	once   sync.Once
	ids    atomic.Uint64
	inflt  atomic.Int64
	// doneBefore (unix ns): async person lookups and bulk jobs created
	// before it are complete, whatever AsyncDelay and BulkDelay say.
	doneBefore atomic.Int64

	mu       sync.Mutex
	total    int64
	requests map[string]map[int]int64
	billable map[string]int64
	repeated map[string]int64
	faults   map[string]int64
	peak     int64
	billed   int64                        // all billable events, for Credits
	seen     map[string]map[uint64]uint32 // endpoint → key hash → requests
	billKeys map[string]map[uint64]uint32 // endpoint → key hash → billed events
	jobs     map[string]*bulkJob
	// down and failing are the runtime faults (SetDown, FailKeys).
	down    bool
	failing map[uint64]keyFault // key hash → fault
}

// keyFault fails a key's next requests with an HTTP status.
type keyFault struct {
	status int
	left   int
}

// New returns a Server with opts (zero durations for AsyncDelay and
// BulkDelay mean 0: complete on the next poll).
func New(opts Options) *Server {
	if opts.Shape == "" {
		opts.Shape = ShapeCurrent
	}
	s := &Server{opts: opts, seed: seedStr(opts.Seed), closed: make(chan struct{}), jobs: map[string]*bulkJob{}}
	s.limits = newLimits(opts)
	s.Reset()
	m := http.NewServeMux()
	m.Handle("GET /verify/v1/email", s.api(EpVerify, func(r *http.Request) string { return r.URL.Query().Get("address") }, s.verify))
	m.Handle("POST /verify/v1/email/bulk", s.api(EpBulkSubmit, func(*http.Request) string { return "" }, s.bulkSubmit))
	m.Handle("GET /verify/v1/email/bulk/results/{id}", s.api(EpBulkStatus, pathID, s.bulkStatus))
	m.Handle("GET /verify/v1/email/bulk/results/{id}/download", s.api(EpBulkDownload, pathID, s.bulkDownload))
	m.Handle("GET /enrich/v1/person", s.api(EpPerson, personKey, s.person))
	m.Handle("GET /enrich/v1/person/results/{id}", s.api(EpPersonPoll, pathID, s.personPoll))
	orgH := s.api(EpOrganization, orgKey, s.organization)
	m.Handle("GET /enrich/v1/organization", orgH)
	m.Handle("GET /enrich/v1/organizaiton", orgH) // the legacy route typo
	m.HandleFunc("GET /_sandbox/counters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Counters())
	})
	m.HandleFunc("POST /_sandbox/down", func(w http.ResponseWriter, _ *http.Request) {
		s.SetDown(true)
		writeJSON(w, http.StatusOK, map[string]string{"status": "down"})
	})
	m.HandleFunc("POST /_sandbox/up", func(w http.ResponseWriter, _ *http.Request) {
		s.SetDown(false)
		writeJSON(w, http.StatusOK, map[string]string{"status": "up"})
	})
	m.HandleFunc("POST /_sandbox/finish-async", func(w http.ResponseWriter, _ *http.Request) {
		s.FinishAsync()
		writeJSON(w, http.StatusOK, map[string]string{"status": "finished"})
	})
	m.HandleFunc("POST /_sandbox/fail-keys", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Status int      `json:"status"`
			Times  int      `json:"times"`
			Keys   []string `json:"keys"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Status < 400 || req.Status > 599 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"status": 400-599, "times": n (0 clears), "keys": [...]}`})
			return
		}
		s.FailKeys(req.Status, req.Times, req.Keys...)
		writeJSON(w, http.StatusOK, map[string]int{"keys": len(req.Keys)})
	})
	m.HandleFunc("POST /_sandbox/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	})
	s.mux = m
	return s
}

func pathID(r *http.Request) string { return r.PathValue("id") }

func personKey(r *http.Request) string {
	q := r.URL.Query()
	if e := q.Get("email"); strings.TrimSpace(e) != "" {
		return e
	}
	return q.Get("linkedinUrl")
}

func orgKey(r *http.Request) string {
	q := r.URL.Query()
	if d := q.Get("domain"); strings.TrimSpace(d) != "" {
		return d
	}
	return q.Get("linkedinUrl")
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close releases requests held by Hang or Latency; it does not stop a
// listener.
func (s *Server) Close() { s.once.Do(func() { close(s.closed) }) }

// SetDown takes the API down (true) or brings it back (false). While it is
// down every API request's connection is dropped without an answer (fault
// "down", nothing billed), as when the service behind a load balancer is
// gone; control requests (/_sandbox/...) still work.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// FailKeys makes the next times requests for each of keys (an address,
// LinkedIn URL or domain, as the request names it; any endpoint) answer
// status, after authentication and before any other fault (fault
// "key_<status>", nothing billed). Calling it again for a key replaces its
// fault, times <= 0 removes it; Reset clears them all.
func (s *Server) FailKeys(status, times int, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if times <= 0 {
			delete(s.failing, hash64(normKey(k)))
			continue
		}
		s.failing[hash64(normKey(k))] = keyFault{status: status, left: times}
	}
}

// FinishAsync completes every async person lookup and bulk job created so
// far, as if AsyncDelay and BulkDelay had passed.
func (s *Server) FinishAsync() { s.doneBefore.Store(time.Now().UnixNano()) }

// asyncDone reports whether an async lookup or job created at created
// (unix ns) is complete after delay.
func (s *Server) asyncDone(created int64, delay time.Duration) bool {
	return time.Since(time.Unix(0, created)) >= delay || created <= s.doneBefore.Load()
}

// takeKeyFault consumes one failure planned for key hash kh, if any.
func (s *Server) takeKeyFault(kh uint64) (status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.failing[kh]
	if !ok {
		return 0
	}
	if f.left--; f.left <= 0 {
		delete(s.failing, kh)
	} else {
		s.failing[kh] = f
	}
	s.faults["key_"+strconv.Itoa(f.status)]++
	return f.status
}

// Reset zeroes the counters and the per-key request numbers (so a run
// after Reset meets the same faults) and clears FailKeys; bulk jobs and
// SetDown are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total, s.peak, s.billed = 0, 0, 0
	s.requests = map[string]map[int]int64{}
	s.billable = map[string]int64{}
	s.repeated = map[string]int64{}
	s.faults = map[string]int64{}
	s.seen = map[string]map[uint64]uint32{}
	s.billKeys = map[string]map[uint64]uint32{}
	s.failing = map[uint64]keyFault{}
}

// Counters returns a snapshot copy.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counters{Total: s.total, PeakConcurrent: s.peak, Requests: map[string]map[int]int64{},
		Billable: copyMap(s.billable), RepeatedBillable: copyMap(s.repeated), Faults: copyMap(s.faults),
		UniqueKeys: map[string]int64{}}
	for ep, m := range s.requests {
		c.Requests[ep] = copyMap(m)
	}
	for ep, m := range s.seen {
		c.UniqueKeys[ep] = int64(len(m))
	}
	return c
}

// Sent returns the requests made to endpoint, whatever their status.
func (c Counters) Sent(endpoint string) int64 {
	var n int64
	for _, v := range c.Requests[endpoint] {
		n += v
	}
	return n
}

func copyMap[K comparable](m map[K]int64) map[K]int64 {
	out := make(map[K]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// reqCtx carries per-request facts to handlers.
type reqCtx struct {
	ep, key string
	n       uint32
	legacy  bool
}

func normKey(k string) string { return strings.ToLower(strings.TrimSpace(k)) }

// api wraps a handler with counting, latency, rate limit, auth, faults.
func (s *Server) api(ep string, keyOf func(*http.Request) string, h func(http.ResponseWriter, *http.Request, *reqCtx)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := s.inflt.Add(1)
		defer s.inflt.Add(-1)
		rc := &reqCtx{ep: ep, key: normKey(keyOf(r))}
		kh := hash64(rc.key)
		s.mu.Lock()
		s.total++
		s.peak = max(s.peak, cur)
		m := s.seen[ep]
		if m == nil {
			m = map[uint64]uint32{}
			s.seen[ep] = m
		}
		m[kh]++
		rc.n = m[kh]
		down := s.down
		if down {
			s.faults["down"]++
		}
		s.mu.Unlock()
		if down {
			s.record(ep, 0)
			resetConn(w)
			return
		}
		rc.legacy = s.isLegacy(rc.key)
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.record(ep, sw.status) }()
		nStr := strconv.FormatUint(uint64(rc.n), 10)

		if d := s.opts.Latency; d > 0 || s.opts.Jitter > 0 {
			if s.opts.Jitter > 0 {
				d += time.Duration(unit(hash64(s.seed, "latency", ep, rc.key, nStr)) * float64(s.opts.Jitter))
			}
			if !s.wait(r, d) {
				return
			}
		}
		if ok, ra := s.limits.allow(time.Now(), ep, r); !ok {
			s.fault("429")
			sw.Header().Set("Retry-After", strconv.Itoa(ra))
			s.writeError(sw, rc, http.StatusTooManyRequests, "Too many requests")
			return
		}
		if !s.auth(sw, r) {
			return
		}
		if st := s.takeKeyFault(kh); st != 0 {
			s.writeError(sw, rc, st, http.StatusText(st))
			return
		}
		u := unit(hash64(s.seed, "fault", ep, rc.key, nStr))
		o := s.opts
		switch {
		case u < o.Fail500:
			s.fault("500")
			msg := "Unable to process request"
			if rc.legacy {
				msg = "Internal error"
			}
			s.writeError(sw, rc, http.StatusInternalServerError, msg)
			return
		case u < o.Fail500+o.Fail502:
			s.fault("502")
			sw.Header().Set("Content-Type", "text/html")
			sw.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(sw, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n")
			return
		case u < o.Fail500+o.Fail502+o.Fail503:
			s.fault("503")
			s.writeError(sw, rc, http.StatusServiceUnavailable, "Service Unavailable")
			return
		case u < o.Fail500+o.Fail502+o.Fail503+o.Reset:
			s.fault("reset")
			resetConn(w)
			return
		case u < o.Fail500+o.Fail502+o.Fail503+o.Reset+o.Hang:
			s.fault("hang")
			if !s.wait(r, s.opts.HangFor) {
				return
			}
		case u < o.Fail500+o.Fail502+o.Fail503+o.Reset+o.Hang+o.Truncate:
			s.fault("truncate")
			tw := &truncWriter{header: http.Header{}, status: http.StatusOK}
			h(tw, r, rc)
			sw.status = tw.status
			for k, v := range tw.header {
				w.Header()[k] = v
			}
			body := tw.buf
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(tw.status)
			_, _ = w.Write(body[:len(body)/2])
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			resetConn(w)
			return
		}
		h(sw, r, rc)
	})
}

// wait sleeps d (0 = until the request or the server ends); false if the
// request ended first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-timer:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return d > 0
	}
}

func (s *Server) isLegacy(key string) bool {
	switch s.opts.Shape {
	case ShapeLegacy:
		return true
	case ShapeMixed:
		return hash64(s.seed, "shape", key)%2 == 1
	}
	return false
}

func (s *Server) record(ep string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.requests[ep]
	if m == nil {
		m = map[int]int64{}
		s.requests[ep] = m
	}
	m[status]++
}

func (s *Server) fault(kind string) {
	s.mu.Lock()
	s.faults[kind]++
	s.mu.Unlock()
}

// creditsLeft reports whether a billable request may proceed.
func (s *Server) creditsLeft(n int64) bool {
	if s.opts.Credits <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.billed+n <= s.opts.Credits
}

// bill registers billable events for keys under ep; false (nothing billed)
// if the credits do not cover them all.
func (s *Server) bill(ep string, keys ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Credits > 0 && s.billed+int64(len(keys)) > s.opts.Credits {
		return false
	}
	m := s.billKeys[ep]
	if m == nil {
		m = map[uint64]uint32{}
		s.billKeys[ep] = m
	}
	for _, k := range keys {
		h := hash64(normKey(k))
		if m[h] > 0 {
			s.repeated[ep]++
		}
		m[h]++
		s.billable[ep]++
		s.billed++
	}
	return true
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("X-CUSTOMER-OS-API-KEY")
	var body string
	switch {
	case strings.TrimSpace(key) == "":
		body = `{"errors":[{"message":"Api key is required"}]}`
	case s.opts.APIKey != "" && key != s.opts.APIKey:
		body = `{"errors":[{"message”":"Invalid api key"}]}`
	case s.opts.APIKey == "" && strings.HasPrefix(key, "disabled"):
		body = `{"errors":[{"message”":"Api key disabled"}]}`
	default:
		return true
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(body))
	return false
}

// writeError writes an error body in the shape of the endpoint and generation.
func (s *Server) writeError(w http.ResponseWriter, rc *reqCtx, status int, msg string) {
	body := map[string]any{"status": "error", "message": msg}
	if !rc.legacy {
		body["requestId"] = s.requestID()
		if strings.HasPrefix(rc.ep, "verify") || strings.HasPrefix(rc.ep, "bulk") {
			body["error"] = http.StatusText(status)
		}
	}
	writeJSON(w, status, body)
}

func (s *Server) paymentRequired(w http.ResponseWriter, rc *reqCtx) {
	s.fault("402")
	s.writeError(w, rc, http.StatusPaymentRequired, "Insufficient credits")
}

// requestID returns "api_" and 16 base62 characters.
func (s *Server) requestID() string {
	return "api_" + base62(hash64(s.seed, "rid", strconv.FormatUint(s.ids.Add(1), 10)), 16)
}

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func base62(h uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		if h == 0 {
			h = hash64(string(b[:i]))
		}
		b[i] = alphabet[h%62]
		h /= 62
	}
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// resetConn drops the connection without an answer (RST where possible).
func resetConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// truncWriter buffers a handler's answer so it can be cut short.
type truncWriter struct {
	header http.Header
	status int
	buf    []byte
}

func (w *truncWriter) Header() http.Header         { return w.header }
func (w *truncWriter) WriteHeader(code int)        { w.status = code }
func (w *truncWriter) Write(b []byte) (int, error) { w.buf = append(w.buf, b...); return len(b), nil }
