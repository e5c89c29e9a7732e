package lookup

import (
	"context"
	"sync"
	"testing"
)

// memPool is a Pool in memory: the logic of a shared budget without the
// database (checkpoint's PGBudget tests the real one).
type memPool struct {
	mu         sync.Mutex
	left, took int64
}

func (p *memPool) Take(_ context.Context, n int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n = min(n, p.left)
	p.left -= n
	p.took += n
	return n, nil
}

func (p *memPool) Give(_ context.Context, n int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left += n
	return nil
}

func TestPooledBudget(t *testing.T) {
	pool := &memPool{left: 40}
	a, b := NewPooledBudget(pool, nil), NewPooledBudget(pool, nil)
	got := int64(0)
	for i := 0; i < 100; i++ {
		got += a.Reserve(1) + b.Reserve(1)
	}
	if got != 40 {
		t.Fatalf("two budgets on a pool of 40 reserved %d", got)
	}
	if !a.Stopping() || !b.Stopping() || a.Cause() != ErrBudget {
		t.Fatal("a spent pool must stop both runs with ErrBudget")
	}

	pool = &memPool{left: 100}
	c := NewPooledBudget(pool, nil)
	if c.Reserve(3) != 3 || pool.took != PoolBlock {
		t.Fatalf("first reserve took a block of %d from the pool, want %d", pool.took, PoolBlock)
	}
	c.Refund(1) // a 429: not made
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pool.left != 100-2 || c.Calls() != 2 {
		t.Errorf("after close the pool holds %d (want 98) and the run made %d calls (want 2)", pool.left, c.Calls())
	}
}
