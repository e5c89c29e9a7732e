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

// Outcome is one attempt's result as reported to a Pacer.
type Outcome struct {
	// Status is the HTTP status, 0 for a transport error.
	Status int
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
	// Err is the attempt's error (nil on success).
	Err error
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
	// Logger is optional; it gets retry decisions at debug level. It never
	// gets the key, URLs or query strings.
	Logger *slog.Logger

	apiKey string

	mu        sync.Mutex
	attempts  map[Endpoint]int64
	byStatus  map[int]int64
	retries   int64
	throttled int64
}

// New returns a Client for baseURL ("" means DefaultBaseURL) and apiKey,
// with every field at its documented default.
func New(baseURL, apiKey string) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
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
	}
}

// Stats returns a snapshot copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Attempts: make(map[Endpoint]int64, len(c.attempts)), ByStatus: make(map[int]int64, len(c.byStatus)),
		Retries: c.retries, Throttled: c.throttled}
	for k, v := range c.attempts {
		s.Attempts[k] = v
	}
	for k, v := range c.byStatus {
		s.ByStatus[k] = v
	}
	return s
}

func (c *Client) count(ep Endpoint, n int64, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.attempts == nil {
		c.attempts = map[Endpoint]int64{}
		c.byStatus = map[int]int64{}
	}
	c.attempts[ep] += n
	c.byStatus[status]++
	if status == http.StatusTooManyRequests {
		c.throttled++
	}
}

type endpointKey struct{}

// countingTransport counts every request in the transport, including
// resends the inner transport makes on its own (seen as extra header writes).
type countingTransport struct {
	base http.RoundTripper
	c    *Client
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ep, _ := req.Context().Value(endpointKey{}).(Endpoint)
	var writes atomic.Int64
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaders: func() { writes.Add(1) },
	})
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	n := max(writes.Load(), 1)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.c.count(ep, n, status)
	return resp, err
}

func (c *Client) httpClient() *http.Client {
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
	query  url.Values
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
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do runs a call with retries and returns a 2xx response (or an accepted
// 404 warning). Any other outcome is an *APIError.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	maxAttempts := c.MaxAttempts
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     orDefault(c.InitialBackoff, DefaultInitialBackoff),
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         orDefault(c.MaxBackoff, DefaultMaxBackoff),
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	bo.Reset()
	hc := c.httpClient()
	for attempt := 1; ; attempt++ {
		if c.Pacer != nil {
			if err := c.Pacer.Wait(ctx, cl.ep); err != nil {
				return nil, &APIError{Endpoint: cl.ep, Attempts: attempt - 1, Err: err}
			}
		}
		resp, sent, err := c.attempt(ctx, hc, cl)
		if ctxErr := ctx.Err(); ctxErr != nil {
			if c.Pacer != nil {
				c.Pacer.Observe(cl.ep, Outcome{Err: ctxErr})
			}
			return nil, &APIError{Endpoint: cl.ep, Attempts: attempt, Err: ctxErr}
		}
		var (
			status     int
			retryAfter time.Duration
			apiErr     *APIError
		)
		if err != nil {
			apiErr = &APIError{Endpoint: cl.ep, Attempts: attempt, Err: err, Retryable: classifyTransport(err)}
			if cl.unsafe && sent && apiErr.Retryable {
				apiErr.Retryable, apiErr.Ambiguous = false, true
			}
		} else {
			status = resp.status
			retryAfter = parseRetryAfter(resp.header.Get("Retry-After"), time.Now())
			switch {
			case status >= 200 && status < 300:
			case status == http.StatusNotFound && cl.warning404 && isWarning(resp.body):
			default:
				apiErr = &APIError{Endpoint: cl.ep, Status: status, Attempts: attempt, RetryAfter: retryAfter,
					Message: c.redact(errorMessage(resp.body)), Retryable: Classify(status), Err: statusErr(status)}
				if cl.unsafe && apiErr.Retryable && status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
					apiErr.Retryable, apiErr.Ambiguous = false, true
				}
			}
		}
		if c.Pacer != nil {
			o := Outcome{Status: status, RetryAfter: retryAfter}
			if apiErr != nil {
				o.Err = apiErr
			}
			c.Pacer.Observe(cl.ep, o)
		}
		if apiErr == nil {
			return resp, nil
		}
		if !apiErr.Retryable || attempt >= maxAttempts {
			return nil, apiErr
		}
		if status == http.StatusTooManyRequests && c.ReturnThrottled && !cl.unsafe {
			return nil, apiErr
		}
		maxRA := orDefault(c.MaxRetryAfter, DefaultMaxRetryAfter)
		if retryAfter > maxRA {
			return nil, apiErr
		}
		wait := min(bo.NextBackOff(), orDefault(c.MaxBackoff, DefaultMaxBackoff))
		wait = max(wait, retryAfter)
		c.mu.Lock()
		c.retries++
		c.mu.Unlock()
		if c.Logger != nil {
			c.Logger.LogAttrs(ctx, slog.LevelDebug, "customeros: retrying",
				slog.String("endpoint", string(cl.ep)), slog.Int("attempt", attempt),
				slog.Int("status", status), slog.Duration("wait", wait), slog.String("error", apiErr.Error()))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, &APIError{Endpoint: cl.ep, Attempts: attempt, Err: err}
		}
	}
}

// attempt makes one HTTP attempt. sent reports whether any request bytes
// reached the connection.
func (c *Client) attempt(ctx context.Context, hc *http.Client, cl call) (resp *response, sent bool, err error) {
	actx, cancel := context.WithTimeout(ctx, orDefault(c.AttemptTimeout, DefaultAttemptTimeout))
	defer cancel()
	var wrote atomic.Bool
	actx = context.WithValue(actx, endpointKey{}, cl.ep)
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	u := strings.TrimRight(c.BaseURL, "/") + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, body)
	if err != nil {
		return nil, false, fmt.Errorf("%w: build request: %v", ErrInvalidArgument, stripURL(err))
	}
	req.Header.Set(APIKeyHeader, c.apiKey)
	req.Header.Set("Accept", "application/json, text/csv")
	req.Header.Set("User-Agent", "contactbatch/batch")
	if cl.ctype != "" {
		req.Header.Set("Content-Type", cl.ctype)
	}
	hr, err := hc.Do(req)
	if err != nil {
		return nil, wrote.Load(), stripURL(err)
	}
	defer hr.Body.Close()
	limit := orDefault(c.MaxBodyBytes, DefaultMaxBodyBytes)
	if cl.download {
		limit = orDefault(c.MaxDownloadBytes, DefaultMaxDownloadBytes)
	}
	data, err := io.ReadAll(io.LimitReader(hr.Body, limit+1))
	if err != nil {
		if hr.StatusCode >= 200 && hr.StatusCode < 300 {
			return nil, true, fmt.Errorf("%w: %v", errTruncated, stripURL(err))
		}
		data = nil // an error answer with a broken body: keep the status
	}
	if int64(len(data)) > limit {
		return nil, true, fmt.Errorf("%w: body larger than %d bytes", ErrBadResponse, limit)
	}
	if hr.StatusCode >= 200 && hr.StatusCode < 300 && looksJSON(hr.Header, data) && !json.Valid(data) {
		return nil, true, fmt.Errorf("%w: invalid JSON", errTruncated)
	}
	return &response{status: hr.StatusCode, header: hr.Header, body: data}, true, nil
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

// redact removes the API key from a server-provided string, defensively.
func (c *Client) redact(s string) string {
	if c.apiKey != "" && len(c.apiKey) >= 4 {
		s = strings.ReplaceAll(s, c.apiKey, "[redacted]")
	}
	return s
}

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

func orDefault[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
