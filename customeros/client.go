package customeros

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/contactbatch/batch/internal/defaults"
	"github.com/contactbatch/batch/internal/netfail"
	"github.com/contactbatch/batch/internal/redact"
)

// Defaults set by New.
const (
	DefaultBaseURL          = "https://api.customeros.ai"
	DefaultAttemptTimeout   = 60 * time.Second // a single verify can take 40 s
	DefaultMaxAttempts      = 4                // 1 + 3 retries
	DefaultInitialBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultMaxRetryAfter    = 5 * time.Minute
	DefaultMaxBodyBytes     = 8 << 20
	DefaultMaxDownloadBytes = 256 << 20
	// APIKeyHeader is the header carrying the tenant API key.
	APIKeyHeader = "X-CUSTOMER-OS-API-KEY"
	// apiKeyHeaderCanonical is http.CanonicalHeaderKey(APIKeyHeader).
	apiKeyHeaderCanonical = "X-Customer-Os-Api-Key"
	// maxRedirects is the number of same-host redirects followed.
	maxRedirects = 3
)

// Pacer is consulted before every HTTP attempt (including retries) and told
// the outcome. It is optional; the pipeline implements it per endpoint.
type Pacer interface {
	// Wait blocks until the endpoint may be called, or ctx is done.
	Wait(ctx context.Context, ep Endpoint) error
	// Observe reports one attempt's outcome.
	Observe(ep Endpoint, o Outcome)
}

// AnswerObserver is told about every attempt that got an answer, so that
// answers that keep coming broken can stop a run (see Breaker.Answer).
type AnswerObserver interface {
	// Answer reports one answered attempt of ep; broken means its body was
	// cut short or did not parse (err is then the attempt's error).
	Answer(ep Endpoint, broken bool, err error)
}

// Outcome is one attempt's result as reported to a Pacer.
type Outcome struct {
	// Status is the HTTP status, 0 for a transport error.
	Status int
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
	// Err is the attempt's error (nil on success).
	Err error
	// Unsent reports a transport error that reached no server: refused,
	// unreachable or unresolved before the request was written (not a
	// timeout, which a busy server may cause).
	Unsent bool
}

// Stats is a snapshot of the client's counters.
type Stats struct {
	// Attempts counts HTTP requests put on the wire per endpoint, counted
	// in the transport: retries, redirects and transport-level resends
	// included. A request that failed before being written counts once.
	Attempts map[Endpoint]int64
	// Retries counts retry decisions (sleeps between attempts).
	Retries int64
	// Throttled counts 429 answers.
	Throttled int64
	// Hung counts attempts abandoned by the hang detector (see
	// Client.HangFactor).
	Hung int64
	// ByStatus counts answers by HTTP status (0 = transport error).
	ByStatus map[int]int64
}

// Client calls the CustomerOS Enrichment and Verify APIs. Its methods are
// safe for concurrent use; set the fields before the first call.
type Client struct {
	// BaseURL is the API root, default DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests. New sets one with no overall Timeout
	// (AttemptTimeout bounds each attempt) and a transport keeping enough
	// idle connections for concurrent workers. Whatever client is set, the
	// Client wraps its transport to count attempts and refuses redirects to
	// another host.
	HTTPClient *http.Client
	// AttemptTimeout bounds one attempt, headers and body (default 60 s).
	AttemptTimeout time.Duration
	// HangFactor, HangFloor and HangSamples shape the hang detector: once
	// an endpoint has had HangSamples complete 2xx answers (default 50),
	// an attempt is abandoned as hung (ErrHung, retried) after
	// max(HangFloor, HangFactor × the p99 latency of its latest 256
	// answers) (defaults 4 and 2 s), never later than AttemptTimeout. The
	// last attempt of a call, bulk uploads and downloads always get the
	// whole AttemptTimeout. A negative HangFactor turns the detector off.
	HangFactor  float64
	HangFloor   time.Duration
	HangSamples int
	// MaxAttempts bounds the attempts per call (default 4: 1 + 3 retries).
	MaxAttempts int
	// InitialBackoff and MaxBackoff shape the exponential backoff with
	// jitter between attempts (defaults 500 ms and 30 s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRetryAfter (default 5 min): a longer Retry-After is not slept; the
	// call returns an *APIError with RetryAfter set.
	MaxRetryAfter time.Duration
	// MaxBodyBytes caps a JSON response body (default 8 MiB).
	MaxBodyBytes int64
	// MaxDownloadBytes caps a bulk result CSV (default 256 MiB).
	MaxDownloadBytes int64
	// ReturnThrottled makes a 429 return at once (an *APIError with
	// RetryAfter) instead of being slept out and retried, for callers that
	// reschedule throttled work without holding a goroutine. The bulk
	// upload still waits (a repeated upload is a new paid job).
	ReturnThrottled bool
	// Pacer is optional.
	Pacer Pacer
	// Answers is optional; it is told about each answered attempt.
	Answers AnswerObserver
	// Logger is optional; it gets retry decisions at debug level. It never
	// gets the key, URLs or query strings.
	Logger *slog.Logger

	apiKey string
	// redactor removes the key from every response body (see redact).
	redactor *redact.Redactor

	stats clientStats
	// wrapped caches the HTTP client built from HTTPClient (see httpClient).
	wrapped atomic.Pointer[wrappedClient]
	// bufs pools response body buffers for calls that decode in the loop.
	bufs sync.Pool
	// lat holds each endpoint's recent latencies (the hang detector).
	lat [numEndpoints]latencies
}

// maxStatus bounds the statuses counted without a lock (HTTP uses 100–599).
const maxStatus = 600

// clientStats holds the counters behind Stats: atomic per endpoint and per
// status, so concurrent calls do not contend on a lock.
type clientStats struct {
	attempts  [numEndpoints]atomic.Int64
	byStatus  [maxStatus]atomic.Int64
	retries   atomic.Int64
	throttled atomic.Int64
	hung      atomic.Int64
	// mu guards odd: statuses outside [0, maxStatus).
	mu  sync.Mutex
	odd map[int]int64
}

// New returns a Client for baseURL ("" means DefaultBaseURL) and apiKey,
// with every field at its documented default.
func New(baseURL, apiKey string) *Client {
	baseURL = defaults.Or(baseURL, DefaultBaseURL)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	return &Client{
		BaseURL:          strings.TrimRight(baseURL, "/"),
		HTTPClient:       &http.Client{Transport: tr},
		AttemptTimeout:   DefaultAttemptTimeout,
		MaxAttempts:      DefaultMaxAttempts,
		InitialBackoff:   DefaultInitialBackoff,
		MaxBackoff:       DefaultMaxBackoff,
		MaxRetryAfter:    DefaultMaxRetryAfter,
		MaxBodyBytes:     DefaultMaxBodyBytes,
		MaxDownloadBytes: DefaultMaxDownloadBytes,
		apiKey:           apiKey,
		redactor:         redact.New(apiKey),
	}
}

// Stats returns a snapshot copy of the counters. Maps hold only non-zero
// counts.
func (c *Client) Stats() Stats {
	st := &c.stats
	s := Stats{Attempts: map[Endpoint]int64{}, ByStatus: map[int]int64{},
		Retries: st.retries.Load(), Throttled: st.throttled.Load(), Hung: st.hung.Load()}
	for i, ep := range Endpoints() {
		if n := st.attempts[i].Load(); n != 0 {
			s.Attempts[ep] = n
		}
	}
	for code := range st.byStatus {
		if n := st.byStatus[code].Load(); n != 0 {
			s.ByStatus[code] = n
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, v := range st.odd {
		s.ByStatus[k] += v
	}
	return s
}

func (c *Client) count(ep int, n int64, status int) {
	st := &c.stats
	if ep >= 0 && ep < numEndpoints {
		st.attempts[ep].Add(n)
	}
	if status >= 0 && status < maxStatus {
		st.byStatus[status].Add(1)
	} else {
		st.mu.Lock()
		if st.odd == nil {
			st.odd = map[int]int64{}
		}
		st.odd[status]++
		st.mu.Unlock()
	}
	if status == http.StatusTooManyRequests {
		st.throttled.Add(1)
	}
}

// attemptKey is the context key of an attempt's *attemptState.
type attemptKey struct{}

// attemptState is shared by one attempt and the transport: the trace hook
// counts header writes (net/http may resend a request on its own; each
// send writes the headers again).
type attemptState struct {
	ep     int // endpoint index
	writes atomic.Int64
}

// countingTransport counts every request in the transport, including
// resends the inner transport makes on its own (seen as extra header writes)
// and redirects (each one a RoundTrip).
type countingTransport struct {
	base http.RoundTripper
	c    *Client
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(attemptKey{}).(*attemptState)
	if st == nil { // not from attempt: count once, endpoint unknown
		resp, err := t.base.RoundTrip(req)
		t.c.count(-1, 1, statusOf(resp, err))
		return resp, err
	}
	before := st.writes.Load()
	resp, err := t.base.RoundTrip(req)
	t.c.count(st.ep, max(st.writes.Load()-before, 1), statusOf(resp, err))
	return resp, err
}

func statusOf(resp *http.Response, err error) int {
	if err != nil {
		return 0
	}
	return resp.StatusCode
}

// wrappedClient is the HTTP client built from Client.HTTPClient (src).
type wrappedClient struct {
	src *http.Client
	hc  *http.Client
}

// httpClient returns a copy of HTTPClient whose transport counts attempts
// and which refuses redirects to another host. It is built once per
// HTTPClient value and reused.
func (c *Client) httpClient() *http.Client {
	if w := c.wrapped.Load(); w != nil && w.src == c.HTTPClient {
		return w.hc
	}
	w := &wrappedClient{src: c.HTTPClient, hc: c.buildHTTPClient()}
	c.wrapped.Store(w)
	return w.hc
}

func (c *Client) buildHTTPClient() *http.Client {
	hc := http.Client{}
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = countingTransport{base: base, c: c}
	userCheck := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if !strings.EqualFold(req.URL.Host, first.Host) || (first.Scheme == "https" && req.URL.Scheme != "https") {
			return fmt.Errorf("%w to another host (%s)", ErrRedirect, req.URL.Host)
		}
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
		}
		if userCheck != nil {
			return userCheck(req, via)
		}
		return nil
	}
	return &hc
}

// call describes one API operation.
type call struct {
	ep     Endpoint
	method string
	path   string // already escaped
	query  string // already encoded, without "?"
	body   []byte
	ctype  string
	// unsafe marks a non-idempotent paid request (bulk upload): it is
	// retried only when it was never written, or on 429/503.
	unsafe bool
	// warning404 accepts a 404 whose body has status "warning" (a lookup
	// that found nothing).
	warning404 bool
	// download raises the body cap to MaxDownloadBytes.
	download bool
	// decode, if set, decodes an accepted answer inside the retry loop, so
	// a body that is not valid JSON (decode's error wraps errTruncated) is
	// retried like a truncated one without a separate validation pass. The
	// body is a pooled buffer, valid only during decode: decode copies what
	// it keeps. do then returns a response without body.
	decode func(status int, body []byte) error
}

type response struct {
	status int
	header http.Header
	body   []byte
	// buf is the pooled buffer holding body, if any (see release).
	buf *[]byte
}

// Body buffers: reads start with this capacity, and buffers that grew
// past maxPooledBuf are left to the GC.
const (
	minBodyBuf   = 1 << 10
	maxPooledBuf = 64 << 10
)

func (c *Client) getBuf() *[]byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, minBodyBuf)
	return &b
}

// release returns r's pooled buffer, if any; r.body is then invalid.
func (c *Client) release(r *response) {
	if r.buf == nil {
		return
	}
	if cap(r.body) <= maxPooledBuf {
		*r.buf = r.body[:0]
		c.bufs.Put(r.buf)
	}
	r.buf, r.body = nil, nil
}

// do runs a call with retries and returns a 2xx response (or an accepted
// 404 warning). Any other outcome is an *APIError. With cl.decode set, the
// accepted body has been decoded and the response has no body.
func (c *Client) do(ctx context.Context, cl *call) (*response, error) {
	maxAttempts := max(c.MaxAttempts, 1)
	var bo *backoff.ExponentialBackOff // made at the first retry
	hc := c.httpClient()
	u := strings.TrimRight(c.BaseURL, "/") + cl.path
	if cl.query != "" {
		u += "?" + cl.query
	}
	for attempt := 1; ; attempt++ {
		if c.Pacer != nil {
			if err := c.Pacer.Wait(ctx, cl.ep); err != nil {
				return nil, &APIError{Endpoint: cl.ep, Attempts: attempt - 1, Err: err}
			}
		}
		resp, sent, err := c.attempt(ctx, hc, cl, u, attempt, maxAttempts)
		if ctxErr := ctx.Err(); ctxErr != nil {
			c.release(&resp)
			if c.Pacer != nil {
				c.Pacer.Observe(cl.ep, Outcome{Err: ctxErr})
			}
			return nil, &APIError{Endpoint: cl.ep, Attempts: attempt, Err: ctxErr}
		}
		answered := err == nil
		r := c.judge(cl, attempt, &resp, sent, err)
		c.observe(cl.ep, r, sent)
		if c.Answers != nil {
			if r.apiErr != nil && errors.Is(r.apiErr, errTruncated) {
				c.Answers.Answer(cl.ep, true, r.apiErr)
			} else if answered {
				c.Answers.Answer(cl.ep, false, nil)
			}
		}
		switch {
		case r.decodeErr != nil:
			return nil, &APIError{Endpoint: cl.ep, Status: r.status, Err: r.decodeErr}
		case r.apiErr == nil:
			return &resp, nil
		case !c.retries(cl, attempt, maxAttempts, r):
			r.apiErr.maxRetryAfter = defaults.Or(c.MaxRetryAfter, DefaultMaxRetryAfter)
			return nil, r.apiErr
		}
		if bo == nil {
			bo = c.newBackOff()
		}
		wait := max(min(bo.NextBackOff(), defaults.Or(c.MaxBackoff, DefaultMaxBackoff)), r.retryAfter)
		c.stats.retries.Add(1)
		if c.Logger != nil {
			c.Logger.LogAttrs(ctx, slog.LevelDebug, "customeros: retrying",
				slog.String("endpoint", string(cl.ep)), slog.Int("attempt", attempt),
				slog.Int("status", r.status), slog.Duration("wait", wait), slog.String("error", r.apiErr.Error()))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, &APIError{Endpoint: cl.ep, Attempts: attempt, Err: err}
		}
	}
}

// attemptResult is what one attempt came to.
type attemptResult struct {
	status     int // 0 for a transport failure
	retryAfter time.Duration
	apiErr     *APIError // nil: the answer is accepted
	decodeErr  error     // an accepted answer that did not decode: final
}

// judge classifies one attempt's answer or transport error (err) and
// decodes an accepted answer; it releases resp's pooled buffer.
func (c *Client) judge(cl *call, attempt int, resp *response, sent bool, err error) attemptResult {
	var r attemptResult
	if err == nil {
		r, err = c.judgeAnswer(cl, attempt, resp)
		c.release(resp)
	}
	if err != nil {
		r.apiErr = &APIError{Endpoint: cl.ep, Attempts: attempt, Err: err, Retryable: classifyTransport(err)}
		if cl.unsafe && sent && r.apiErr.Retryable {
			r.apiErr.Retryable, r.apiErr.Ambiguous = false, true
		}
	}
	return r
}

// judgeAnswer classifies an HTTP answer. A 2xx body that is not valid JSON
// comes back as an error, to be retried like a truncated transfer.
func (c *Client) judgeAnswer(cl *call, attempt int, resp *response) (attemptResult, error) {
	r := attemptResult{status: resp.status}
	if ra := resp.header.Get("Retry-After"); ra != "" {
		r.retryAfter = parseRetryAfter(ra, time.Now())
	}
	ok := r.status >= 200 && r.status < 300
	if !ok && !(r.status == http.StatusNotFound && cl.warning404 && isWarning(resp.body)) {
		r.apiErr = &APIError{Endpoint: cl.ep, Status: r.status, Attempts: attempt, RetryAfter: r.retryAfter,
			Message: c.redact(errorMessage(resp.body)), Retryable: Classify(r.status), Err: statusErr(r.status)}
		if cl.unsafe && r.apiErr.Retryable && r.status != http.StatusTooManyRequests && r.status != http.StatusServiceUnavailable {
			r.apiErr.Retryable, r.apiErr.Ambiguous = false, true
		}
		return r, nil
	}
	if cl.decode == nil {
		return r, nil
	}
	switch derr := cl.decode(r.status, resp.body); {
	case derr == nil:
	case ok && errors.Is(derr, errTruncated) && looksJSON(resp.header, resp.body):
		return attemptResult{}, fmt.Errorf("%w: invalid JSON", errTruncated)
	default:
		r.decodeErr = derr
	}
	return r, nil
}

// observe tells the Pacer how an attempt went; sent reports that the
// request was written.
func (c *Client) observe(ep Endpoint, r attemptResult, sent bool) {
	if c.Pacer == nil {
		return
	}
	o := Outcome{Status: r.status, RetryAfter: r.retryAfter}
	if r.apiErr != nil {
		o.Err = r.apiErr
		o.Unsent = r.status == 0 && !sent && netfail.NoServer(r.apiErr)
	}
	c.Pacer.Observe(ep, o)
}

// retries reports whether a failed attempt is made again: the failure is
// retryable, attempts remain, a 429 is not for the caller to handle
// (ReturnThrottled) and the server does not ask for a longer wait than
// MaxRetryAfter.
func (c *Client) retries(cl *call, attempt, maxAttempts int, r attemptResult) bool {
	switch {
	case !r.apiErr.Retryable || attempt >= maxAttempts:
		return false
	case r.status == http.StatusTooManyRequests && c.ReturnThrottled && !cl.unsafe:
		return false
	}
	return r.retryAfter <= defaults.Or(c.MaxRetryAfter, DefaultMaxRetryAfter)
}

// newBackOff returns the exponential back-off with jitter between retries.
func (c *Client) newBackOff() *backoff.ExponentialBackOff {
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     defaults.Or(c.InitialBackoff, DefaultInitialBackoff),
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         defaults.Or(c.MaxBackoff, DefaultMaxBackoff),
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	bo.Reset()
	return bo
}

// attempt makes one HTTP attempt to u. sent reports whether any request
// bytes reached the connection. With cl.decode set the body is in a pooled
// buffer (release it).
func (c *Client) attempt(ctx context.Context, hc *http.Client, cl *call, u string, attempt, maxAttempts int) (resp response, sent bool, err error) {
	tmo, hang := c.attemptLimit(cl, attempt, maxAttempts)
	actx, cancel := context.WithTimeout(ctx, tmo)
	defer cancel()
	start := time.Now()
	defer func() {
		switch {
		case err == nil:
			c.observeLatency(cl, resp.status, time.Since(start))
		case hang && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded):
			c.stats.hung.Add(1)
			// Whatever the attempt was doing (waiting for headers, reading
			// the body), it hung: not a broken answer.
			err = fmt.Errorf("%w after %s (the endpoint's answers are much faster): %w", ErrHung, tmo, context.DeadlineExceeded)
		}
	}()
	st := &attemptState{ep: endpointIndex(cl.ep)}
	actx = context.WithValue(actx, attemptKey{}, st)
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { st.writes.Add(1) }})
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, body)
	if err != nil {
		return response{}, false, fmt.Errorf("%w: build request: %v", ErrInvalidArgument, stripURL(err))
	}
	// Canonical keys set directly (Header.Set would canonicalize each time).
	vals := []string{c.apiKey, "application/json, text/csv", "contactbatch/batch", cl.ctype}
	req.Header[apiKeyHeaderCanonical] = vals[0:1:1]
	req.Header["Accept"] = vals[1:2:2]
	req.Header["User-Agent"] = vals[2:3:3]
	if cl.ctype != "" {
		req.Header["Content-Type"] = vals[3:4:4]
	}
	hr, err := hc.Do(req)
	if err != nil {
		return response{}, st.writes.Load() > 0, stripURL(err)
	}
	defer hr.Body.Close()
	limit := defaults.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	if cl.download {
		limit = defaults.Or(c.MaxDownloadBytes, DefaultMaxDownloadBytes)
	}
	var bp *[]byte
	var data []byte
	if cl.decode != nil {
		bp = c.getBuf()
		data = *bp
	} else if hr.ContentLength >= 0 && hr.ContentLength <= limit {
		data = make([]byte, 0, hr.ContentLength+1)
	}
	data, err = readBody(hr.Body, data, limit)
	data = c.redactor.Bytes(data) // a server echoing the key must not get it into a result
	resp = response{status: hr.StatusCode, header: hr.Header, body: data, buf: bp}
	if err != nil {
		// A 404 is an answer only with its body ("warning": nothing found,
		// or a real 404): one cut short is a broken answer, retried like a
		// broken 2xx rather than taken as the end of the lookup.
		if hr.StatusCode >= 200 && hr.StatusCode < 300 || hr.StatusCode == http.StatusNotFound {
			c.release(&resp)
			return response{}, true, fmt.Errorf("%w: %v", errTruncated, stripURL(err))
		}
		resp.body = resp.body[:0] // an error answer with a broken body: keep the status
	}
	if int64(len(resp.body)) > limit {
		c.release(&resp)
		return response{}, true, fmt.Errorf("%w: body larger than %d bytes", ErrBadResponse, limit)
	}
	// A decoding call validates while decoding (see call.decode).
	if cl.decode == nil && hr.StatusCode >= 200 && hr.StatusCode < 300 && looksJSON(hr.Header, resp.body) && !json.Valid(resp.body) {
		return response{}, true, fmt.Errorf("%w: invalid JSON", errTruncated)
	}
	return resp, true, nil
}

// readBody appends r's content to buf, reading at most limit+1 bytes (so
// that a caller sees an over-limit body as longer than limit).
func readBody(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		room := buf[len(buf):cap(buf)]
		if rest := limit + 1 - int64(len(buf)); int64(len(room)) > rest {
			room = room[:rest]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// stripURL drops the *url.Error wrapper, whose text holds the URL (and so
// the email in the query string).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() && !errors.Is(ue.Err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: timeout: %w", strings.ToLower(ue.Op), ue.Err)
		}
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

func looksJSON(h http.Header, body []byte) bool {
	if strings.Contains(h.Get("Content-Type"), "json") {
		return true
	}
	b := bytes.TrimSpace(body)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// redact removes the API key, and any piece of it of redact.MinRun bytes or
// more in any case, from a server-provided string.
func (c *Client) redact(s string) string { return c.redactor.String(s) }

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
