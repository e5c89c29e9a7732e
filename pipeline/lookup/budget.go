package lookup

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
)

// ErrBudget is the cause of a stop when --max-calls was reached.
var ErrBudget = errors.New("call budget (--max-calls) reached")

// Budget is a run's allowance of paid calls and its stop switch: once the
// run is stopping, no further call is reserved. It is safe for concurrent
// use.
type Budget struct {
	max   int64 // 0 = no cap
	calls atomic.Int64
	log   *slog.Logger

	once  sync.Once
	done  chan struct{}
	cause error // written before done is closed
}

// NewBudget returns a budget of max paid calls (0 = no cap).
func NewBudget(max int64, log *slog.Logger) *Budget {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Budget{max: max, log: log, done: make(chan struct{})}
}

// Stop begins a resumable stop: no new rows, no new paid calls. The first
// cause wins.
func (b *Budget) Stop(cause error) {
	b.once.Do(func() {
		b.cause = cause
		close(b.done)
		b.log.Info("stopping", "cause", cause.Error())
	})
}

// Done is closed when the run begins to stop.
func (b *Budget) Done() <-chan struct{} { return b.done }

// Stopping reports whether Stop was called.
func (b *Budget) Stopping() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Cause returns the error Stop was first called with, or nil.
func (b *Budget) Cause() error {
	if !b.Stopping() {
		return nil
	}
	return b.cause
}

// Calls returns the paid calls reserved so far (refunds deducted).
func (b *Budget) Calls() int64 { return b.calls.Load() }

// Reserve takes up to n paid calls from the budget and returns how many it
// took; 0 stops the run (the budget is spent, or it is stopping).
func (b *Budget) Reserve(n int64) int64 {
	if b.Stopping() {
		return 0
	}
	if b.max <= 0 {
		b.calls.Add(n)
		return n
	}
	for {
		used := b.calls.Load()
		take := min(n, b.max-used)
		if take <= 0 {
			b.Stop(ErrBudget)
			return 0
		}
		if b.calls.CompareAndSwap(used, used+take) {
			return take
		}
	}
}

// Refund gives back n reserved calls that were not executed (a 429).
func (b *Budget) Refund(n int64) { b.calls.Add(-n) }
