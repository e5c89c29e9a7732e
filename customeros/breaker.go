package customeros

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"github.com/contactbatch/batch/internal/defaults"
)

// Breaker defaults (see Breaker).
const (
	DefaultBreakerStreak = 8
	DefaultBreakerWindow = 100
	DefaultBreakerShare  = 0.5
	// DefaultBreakerBroken is how many answers in a row of one endpoint
	// may come cut short or unreadable before the breaker opens.
	DefaultBreakerBroken = 8
)

// Transient reports whether err, returned by a Client call after its
// retries, is a failure of the service or of the network rather than an
// answer about the input: connection refused or reset, DNS, TLS, timeouts,
// 5xx, 408/425/429, a truncated or undecodable 2xx body, a redirect to
// another host, a 404 that is not a lookup's "not found". Another try of
// the same call later may succeed, so the lookup must not be made final.
//
// It is false for nil, for a cancelled context, for the run-stopping
// statuses 401, 402 and 403, for arguments refused before sending, and for
// the other 4xx: those are the service's answer about this input.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrPaymentRequired) || errors.Is(err, ErrForbidden) ||
		errors.Is(err, ErrInvalidArgument) {
		return false
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status == 0 || ae.Status < 400 {
		return true // transport errors and bodies that did not decode
	}
	return Classify(ae.Status) || ae.Status == http.StatusNotFound
}

// Refused reports whether err is the service's permanent refusal of this
// input (a 4xx other than 401/402/403/404 and the retryable 408/425/429):
// a retry of the same lookup would get the same answer.
func Refused(err error) bool {
	var ae *APIError
	if err == nil || !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
		return false
	}
	return !Transient(err) && !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrPaymentRequired) &&
		!errors.Is(err, ErrForbidden)
}

// OutageError is the cause of a run stopped by a Breaker.
type OutageError struct {
	// URL is the API base URL.
	URL string
	// Endpoint is the endpoint whose calls kept failing.
	Endpoint Endpoint
	// Failed and Of say how many of the recent calls failed: Failed == Of
	// for a streak of consecutive failures.
	Failed, Of int
	// Last is the last failure.
	Last error
	// Broken marks an outage seen as answers cut short or unreadable
	// (Failed of them in a row), each one likely paid for and lost.
	Broken bool
}

func (e *OutageError) Error() string {
	if e.Broken {
		return fmt.Sprintf("API failing at %s: its answers are cut short or unreadable (%d %s answers in a row); rerun the same command when it is back",
			e.URL, e.Failed, e.Endpoint)
	}
	what := "unreachable"
	var ae *APIError
	if errors.As(e.Last, &ae) && ae.Status != 0 {
		what = "failing"
	}
	calls := fmt.Sprintf("%d %s calls in a row failed", e.Failed, e.Endpoint)
	if e.Failed != e.Of {
		calls = fmt.Sprintf("%d of the last %d %s calls failed", e.Failed, e.Of, e.Endpoint)
	}
	return fmt.Sprintf("API %s at %s: %s (%s); rerun the same command when it is back", what, e.URL, RootCause(e.Last), calls)
}

// Unwrap returns the last failure.
func (e *OutageError) Unwrap() error { return e.Last }

// RootCause is the short reason behind a call's failure, for one-line
// messages: "connection refused", "HTTP 503: Service Unavailable", "lookup
// api.example.com: no such host", "timeout".
func RootCause(err error) string {
	var (
		ae  *APIError
		dns *net.DNSError
		ne  net.Error
	)
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &ae) && ae.Status != 0:
		s := fmt.Sprintf("HTTP %d", ae.Status)
		if ae.Message != "" {
			s += ": " + ae.Message
		} else if t := http.StatusText(ae.Status); t != "" {
			s += ": " + t
		}
		return s
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.As(err, &dns):
		return "lookup " + dns.Name + ": " + dns.Err
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ae) && ae.Err != nil:
		return strings.TrimPrefix(ae.Err.Error(), "customeros: ")
	}
	return err.Error()
}

// Breaker watches the outcome of each call per endpoint (after the
// client's own retries) and opens when the service looks down, so that a
// run stops resumably instead of turning a list into errors. It opens for
// an endpoint after Streak consecutive transient failures of different
// lookup keys (a key failing again does not lengthen the streak), or when
// at least Share of the last Window calls failed transiently. A success or
// an answer about the input (for example a 400, or a 404 for a poll
// handle) ends a streak; 429s,
// cancellations and the run-stopping 401/402/403 are not counted. Once
// open it stays open: the run stops and the next run starts closed.
//
// It also opens for an endpoint after Broken answers in a row (attempts,
// not calls: see Answer) came cut short or did not parse: such an answer is
// usually paid for, so retrying them one lookup after another would pay
// for every key several times and learn nothing.
//
// The zero value uses the defaults (8 keys, 100 calls, half, 8 broken
// answers); it is safe for concurrent use.
type Breaker struct {
	// URL names the API in the outage message.
	URL string
	// Streak, Window, Share and Broken: see the type's documentation.
	Streak int
	Window int
	Share  float64
	Broken int

	mu   sync.Mutex
	eps  map[Endpoint]*breakerState
	open *OutageError
	// ctx is cancelled when open is set (see Context).
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// breakerState is one endpoint's recent history.
type breakerState struct {
	streak map[string]struct{} // keys failed since the last success
	ring   []bool              // the last Window outcomes, true = failed
	next   int                 // ring position of the next outcome
	filled int
	failed int // true values in ring
	broken int // answers in a row cut short or unreadable
}

// Record adds one call's outcome for ep and the lookup key it was for. It
// returns the *OutageError once the breaker is open (now or before), nil
// while it is closed.
func (b *Breaker) Record(ep Endpoint, key string, err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open != nil {
		return b.open
	}
	var ae *APIError
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrPaymentRequired) ||
		errors.Is(err, ErrForbidden) || (errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests) {
		return nil
	}
	streak, window := defaults.Or(b.Streak, DefaultBreakerStreak), defaults.Or(b.Window, DefaultBreakerWindow)
	share := b.Share
	if share <= 0 || share > 1 {
		share = DefaultBreakerShare
	}
	st := b.stateLocked(ep, window)
	failed := Transient(err) && !(isPoll(ep) && errors.As(err, &ae) && ae.Status == http.StatusNotFound)
	if st.ring[st.next] {
		st.failed--
	}
	st.ring[st.next] = failed
	st.next = (st.next + 1) % window
	st.filled = min(st.filled+1, window)
	if !failed {
		clear(st.streak)
		return nil
	}
	st.failed++
	st.streak[key] = struct{}{}
	switch {
	case len(st.streak) >= streak:
		b.open = &OutageError{URL: b.URL, Endpoint: ep, Failed: len(st.streak), Of: len(st.streak), Last: err}
	case st.filled == window && float64(st.failed) >= share*float64(window):
		b.open = &OutageError{URL: b.URL, Endpoint: ep, Failed: st.failed, Of: window, Last: err}
	default:
		return nil
	}
	b.doneLocked()
	return b.open
}

// stateLocked returns ep's state, made with a ring of window outcomes.
func (b *Breaker) stateLocked(ep Endpoint, window int) *breakerState {
	if b.eps == nil {
		b.eps = map[Endpoint]*breakerState{}
	}
	st := b.eps[ep]
	if st == nil {
		st = &breakerState{streak: map[string]struct{}{}, ring: make([]bool, window)}
		b.eps[ep] = st
	}
	return st
}

// Answer adds one HTTP attempt of ep that got an answer: broken means its
// body was cut short or did not parse (err is then the attempt's error).
// It implements the client's AnswerObserver: the breaker opens after
// Broken broken answers in a row, whichever lookups they were for, and
// cancels its Context so that the calls in flight stop retrying.
func (b *Breaker) Answer(ep Endpoint, broken bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open != nil {
		return
	}
	st := b.stateLocked(ep, defaults.Or(b.Window, DefaultBreakerWindow))
	if !broken {
		st.broken = 0
		return
	}
	if st.broken++; st.broken >= defaults.Or(b.Broken, DefaultBreakerBroken) {
		b.open = &OutageError{URL: b.URL, Endpoint: ep, Failed: st.broken, Of: st.broken, Last: err, Broken: true}
		b.doneLocked()
	}
}

// Context returns a context cancelled (with the *OutageError as its
// cause) when the breaker opens, so that calls in flight can be abandoned.
func (b *Breaker) Context() context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.initLocked()
	return b.ctx
}

func (b *Breaker) initLocked() {
	if b.ctx == nil {
		b.ctx, b.cancel = context.WithCancelCause(context.Background())
		if b.open != nil {
			b.cancel(b.open)
		}
	}
}

func (b *Breaker) doneLocked() {
	b.initLocked()
	b.cancel(b.open)
}

// isPoll reports whether ep reads a handle (a person result URL, a bulk
// job): a 404 there is the answer "no such handle", not a failure.
func isPoll(ep Endpoint) bool {
	return ep == EndpointPersonPoll || ep == EndpointBulkStatus || ep == EndpointBulkDownload
}

// Err returns the *OutageError if the breaker is open, else nil.
func (b *Breaker) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open == nil {
		return nil
	}
	return b.open
}
