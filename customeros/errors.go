package customeros

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. A returned *APIError unwraps to one of them where it
// applies, so errors.Is works on the *APIError.
var (
	// ErrUnauthorized: HTTP 401, the key is missing, invalid or disabled.
	// Stop the run; it is resumable once the key is fixed.
	ErrUnauthorized = errors.New("customeros: unauthorized (check the API key)")
	// ErrPaymentRequired: HTTP 402, credits exhausted. Stop the run.
	ErrPaymentRequired = errors.New("customeros: payment required (credits exhausted)")
	// ErrForbidden: HTTP 403, the key is not enabled for this API.
	ErrForbidden = errors.New("customeros: forbidden (key not enabled for this API)")
	// ErrNotFound: HTTP 404 that is not a "not found" lookup result: an
	// unknown result id or job id, or a wrong base URL.
	ErrNotFound = errors.New("customeros: resource not found")
	// ErrBadRequest: HTTP 400 (or another non-retryable 4xx).
	ErrBadRequest = errors.New("customeros: bad request")
	// ErrNotReady: the bulk job is still processing.
	ErrNotReady = errors.New("customeros: bulk job not ready")
	// ErrRedirect: the server redirected to another host (or downgraded the
	// scheme); the client refuses so the key never leaves BaseURL's host.
	ErrRedirect = errors.New("customeros: refused redirect")
	// ErrBadResponse: a 2xx answer that could not be decoded.
	ErrBadResponse = errors.New("customeros: malformed response")
	// ErrInvalidArgument: the call's arguments were rejected before sending.
	ErrInvalidArgument = errors.New("customeros: invalid argument")
)

// APIError describes a failed call after the client gave up. Its Error text
// never contains the API key, the URL or the query string.
type APIError struct {
	Endpoint Endpoint
	// Status is the HTTP status of the last attempt, 0 for a transport error.
	Status int
	// Message is the server's error message, if any (trimmed, capped).
	Message string
	// Retryable reports whether a later try may succeed (transient class).
	Retryable bool
	// RetryAfter is the server's Retry-After on the last attempt, if any.
	// When it exceeded Client.MaxRetryAfter the client returned without
	// sleeping: the caller should park the work until then.
	RetryAfter time.Duration
	// Ambiguous reports that a non-idempotent request (bulk upload) may have
	// been executed although the answer was lost or an error: do not resend
	// it blindly, a resend is a new paid job.
	Ambiguous bool
	// Attempts is the number of HTTP attempts made.
	Attempts int
	// Err is the underlying cause: a sentinel above, or the transport error
	// (with the URL stripped).
	Err error

	// maxRetryAfter is the MaxRetryAfter of the client that gave up (0:
	// the default), for Throttled.
	maxRetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("customeros: ")
	b.WriteString(string(e.Endpoint))
	if e.Status != 0 {
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil && (e.Status == 0 || e.Message == "") {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "customeros: "))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *APIError) Unwrap() error { return e.Err }

// Classify reports whether an HTTP status is transient, i.e. worth retrying
// with backoff: 408, 425, 429, 500, 502, 503, 504, 507, 508 and the
// non-standard 520–529 "overloaded" codes. Every other status is final:
// 2xx/3xx are not errors and 4xx (400, 401, 402, 403, 404, …) never change on
// a retry.
func Classify(status int) (retryable bool) {
	switch status {
	case 408, 425, 429, 500, 502, 503, 504, 507, 508:
		return true
	}
	return status >= 520 && status <= 529
}

// statusErr maps a non-retryable status to its sentinel.
func statusErr(status int) error {
	switch status {
	case 401:
		return ErrUnauthorized
	case 402:
		return ErrPaymentRequired
	case 403:
		return ErrForbidden
	case 404:
		return ErrNotFound
	}
	if status >= 400 && status < 500 && !Classify(status) {
		return ErrBadRequest
	}
	return nil
}

// classifyTransport reports whether a transport-level error (no HTTP status)
// is worth retrying. Certificate, redirect-policy and configuration errors are
// final; timeouts, resets, refused connections and EOFs are transient.
func classifyTransport(err error) bool {
	var (
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		certInvalid x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		dnsErr      *net.DNSError
	)
	switch {
	case errors.Is(err, ErrRedirect), errors.Is(err, ErrBadResponse) && !errors.Is(err, errTruncated):
		return false
	case errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &certInvalid), errors.As(err, &verifyErr):
		return false
	case errors.As(err, &dnsErr):
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	case errors.Is(err, context.Canceled):
		return false
	}
	msg := err.Error()
	if strings.Contains(msg, "unsupported protocol scheme") || strings.Contains(msg, "invalid header") ||
		strings.Contains(msg, "stopped after") {
		return false
	}
	return true
}

// errTruncated marks a 2xx body that ended early or did not parse.
var errTruncated = fmt.Errorf("%w: truncated body", ErrBadResponse)

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
