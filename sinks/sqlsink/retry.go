package sqlsink

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// withRetry runs op, retrying it with exponential backoff and jitter while
// retryable says its error is transient, at most opts.Retries times. op is
// a whole batch transaction: it either committed or not, and running it
// again is an upsert, so a retry after an ambiguous failure is harmless.
func withRetry(ctx context.Context, opts Options, retryable func(error) bool, op func() error) error {
	if opts.Retries < 0 {
		return op()
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = opts.RetryWait
	b.MaxInterval = 30 * opts.RetryWait
	b.MaxElapsedTime = 0
	attempt := 0
	return backoff.RetryNotify(func() error {
		attempt++
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(backoff.WithMaxRetries(b, uint64(opts.Retries)), ctx),
		func(err error, wait time.Duration) {
			opts.Logger.Warn("sqlsink: retrying batch", "table", opts.Table, "attempt", attempt, "wait", wait, "err", err)
		})
}
