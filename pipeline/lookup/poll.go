package lookup

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// pollItem is a parked async lookup: a person result URL or a bulk job.
type pollItem struct {
	kind Kind
	// retry marks a throttled lookup waiting out its Retry-After; req and
	// throttles go back into its job.
	retry bool
	// claim marks a lookup whose key another process has claimed in the
	// shared cache: the shared cache is asked again when it is due.
	claim     bool
	req       Request
	throttles int
	key       string   // person: the lookup key
	keys      []string // bulk: the emails in the job
	fors      []int64  // the rows the lookups were made for, one per key
	handle    string
	partial   []byte // person: the 202 body's decoded result, JSON
	created   time.Time
	interval  time.Duration
	due       time.Time
	index     int
}

// backOff sets the item's next poll: the interval grows by half, up to limit.
func (it *pollItem) backOff(now time.Time, limit time.Duration) {
	it.interval = min(time.Duration(float64(it.interval)*1.5), limit)
	it.due = now.Add(it.interval)
}

// scheduler holds parked lookups by next poll time and hands due polls to
// the poll workers, so that waiting never holds a lookup worker and polls
// never take a lookup worker's place.
type scheduler struct {
	mu    sync.Mutex
	items pollHeap
	wake  chan struct{}
}

func newScheduler() *scheduler { return &scheduler{wake: make(chan struct{}, 1)} }

// add parks it until it.due. It never blocks.
func (s *scheduler) add(it *pollItem) {
	s.mu.Lock()
	heap.Push(&s.items, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// len reports the number of parked lookups.
func (s *scheduler) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// run dispatches due polls until every key rows wait for is answered, the
// run stops (parked handles stay in the ledger for the next run) or ctx
// ends.
func (s *scheduler) run(ctx context.Context, e *Engine) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var due *pollItem
		wait := time.Hour
		if len(s.items) > 0 {
			if d := time.Until(s.items[0].due); d <= 0 {
				due = heap.Pop(&s.items).(*pollItem)
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if due != nil {
			select {
			case e.pollJobs <- due:
			case <-e.drained:
				return nil
			case <-e.cfg.Budget.Done():
				return nil
			case <-ctx.Done():
				return nil
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
		case <-e.drained:
			return nil
		case <-e.cfg.Budget.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

type pollHeap []*pollItem

func (h pollHeap) Len() int           { return len(h) }
func (h pollHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h pollHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pollHeap) Push(x any)        { *h = append(*h, x.(*pollItem)) }
func (h *pollHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return it
}
