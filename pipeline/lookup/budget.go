package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// ErrBudget is the cause of a stop when --max-calls was reached.
var ErrBudget = errors.New("call budget (--max-calls) reached")

// Pool is a call budget that several processes share (the shards of a
// job, through PostgreSQL). A Budget with a pool takes its calls from it in
// blocks and gives back what it did not use when it closes, so the pool's
// total is never exceeded; a process killed mid-run loses at most its
// unused block (the job may stop short of its cap, never past it).
type Pool interface {
	// Take reserves up to n calls and returns how many it reserved: 0 when
	// the pool is spent. It is durable on return and safe for concurrent
	// use by many processes.
	Take(ctx context.Context, n int64) (int64, error)
	// Give returns n reserved calls that were not made. It is durable on
	// return.
	Give(ctx context.Context, n int64) error
}

// PoolBlock is how many calls a Budget takes from its Pool at a time.
const PoolBlock = 16

// Budget is a run's allowance of paid calls and its stop switch: once the
// run is stopping, no further call is reserved. It is safe for concurrent
// use.
type Budget struct {
	max   int64 // 0 = no cap
	calls atomic.Int64
	log   *slog.Logger

	pool   Pool
	poolMu sync.Mutex
	local  int64 // calls taken from the pool and not yet reserved, under poolMu

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

// NewPooledBudget returns a budget whose calls come from pool (a budget
// shared with other processes) instead of a cap of its own.
func NewPooledBudget(pool Pool, log *slog.Logger) *Budget {
	b := NewBudget(0, log)
	b.pool = pool
	return b
}

// Reserve takes up to n paid calls from the budget and returns how many it
// took; 0 stops the run (the budget is spent, or it is stopping).
func (b *Budget) Reserve(n int64) int64 {
	if b.Stopping() {
		return 0
	}
	if b.pool != nil {
		return b.reservePooled(n)
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

func (b *Budget) reservePooled(n int64) int64 {
	b.poolMu.Lock()
	defer b.poolMu.Unlock()
	if b.local < n {
		got, err := b.pool.Take(context.Background(), max(PoolBlock, n-b.local))
		if err != nil {
			b.Stop(fmt.Errorf("shared call budget: %w", err))
			return 0
		}
		b.local += got
	}
	take := min(n, b.local)
	if take <= 0 {
		b.Stop(ErrBudget)
		return 0
	}
	b.local -= take
	b.calls.Add(take)
	return take
}

// Refund gives back n reserved calls that were not executed (a 429).
func (b *Budget) Refund(n int64) {
	b.calls.Add(-n)
	if b.pool != nil {
		b.poolMu.Lock()
		b.local += n
		b.poolMu.Unlock()
	}
}

// Close gives the calls taken from the pool and not made back to it.
func (b *Budget) Close(ctx context.Context) error {
	if b.pool == nil {
		return nil
	}
	b.poolMu.Lock()
	defer b.poolMu.Unlock()
	if b.local == 0 {
		return nil
	}
	if err := b.pool.Give(ctx, b.local); err != nil {
		return fmt.Errorf("shared call budget: %w", err)
	}
	b.local = 0
	return nil
}
