package customeros

import (
	"errors"
	"net/http"

	"github.com/contactbatch/batch/internal/defaults"
)

// The stop and retry policy of a caller, decided here from the client's
// own errors and settings rather than re-derived from status codes.

// Throttled reports a 429 the client gave up on after its retries although
// the server's Retry-After was within the client's MaxRetryAfter: the call
// was not executed (so not billed), and the same call may be made again
// once RetryAfter has passed. A 429 asking for a longer wait is not
// Throttled: it Halts.
func Throttled(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests {
		return false
	}
	return ae.RetryAfter <= defaults.Or(ae.maxRetryAfter, DefaultMaxRetryAfter)
}

// Gone reports that the server does not know the handle a call named (an
// async result id or a bulk job id): HTTP 404. Polling it again is
// pointless; the lookup it stood for must be asked again.
func Gone(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// Halts reports an answer after which no call can succeed until the user
// acts or time passes: 401 (the key), 402 (credits), 403 (the key is not
// enabled), a 429 (rate limited beyond the client's retries or its
// MaxRetryAfter), or an *OutageError (a Breaker opened: the API looks
// down). A run stops resumably on it instead of failing rows that were
// never executed.
func Halts(err error) bool {
	if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrPaymentRequired) || errors.Is(err, ErrForbidden) {
		return true
	}
	var oe *OutageError
	if errors.As(err, &oe) {
		return true
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests
}
