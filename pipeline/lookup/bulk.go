package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline/counter"
)

// bulker gathers verify keys into bulk jobs (--verify-mode bulk): one
// upload per BulkSize keys or per BulkLinger, the job id durable before the
// first poll, results joined back by address.
type bulker struct {
	rv *resolver

	mu    sync.Mutex
	keys  []string
	fors  []int64 // the row each key was first needed for
	first time.Time
	// wake is poked when the input ended or the last queued verify key
	// reached the bulker: the final partial batch goes up then, not at the
	// next tick.
	wake chan struct{}
}

func newBulker(rv *resolver) *bulker { return &bulker{rv: rv, wake: make(chan struct{}, 1)} }

// poke wakes run; it never blocks.
func (b *bulker) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// add queues key, needed for row seq, for the next upload.
func (b *bulker) add(ctx context.Context, key string, seq int64) error {
	b.mu.Lock()
	if len(b.keys) == 0 {
		b.first = time.Now()
	}
	b.keys = append(b.keys, key)
	b.fors = append(b.fors, seq)
	var batch []string
	var fors []int64
	if len(b.keys) >= b.rv.e.cfg.BulkSize {
		batch, fors, b.keys, b.fors = b.keys, b.fors, nil, nil
	}
	b.mu.Unlock()
	if batch != nil {
		return b.submit(ctx, batch, fors)
	}
	return nil
}

// run uploads partial batches once they have waited BulkLinger, or as soon
// as the input is exhausted. It returns when every key rows wait for is
// answered or the run stops (keys not uploaded wait for the next run).
func (b *bulker) run(ctx context.Context) error {
	t := time.NewTicker(b.rv.e.cfg.BulkLinger / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.wake:
		case <-b.rv.e.drained:
			return nil
		case <-b.rv.e.cfg.Budget.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
		b.mu.Lock()
		var batch []string
		var fors []int64
		// Once the input ended, the last batch goes up when every queued
		// key has reached the bulker (so it is one batch, not several).
		last := b.rv.e.inputDone.Load() && b.rv.queued.Load() == 0
		if len(b.keys) > 0 && (time.Since(b.first) >= b.rv.e.cfg.BulkLinger || last) {
			batch, fors, b.keys, b.fors = b.keys, b.fors, nil, nil
		}
		b.mu.Unlock()
		if batch != nil {
			if err := b.submit(ctx, batch, fors); err != nil {
				return err
			}
		}
	}
}

// submit uploads one batch and parks the job. With a call budget smaller
// than the batch it uploads what the budget allows; the rest waits for the
// next run. It returns an error only when the ledger fails.
func (b *bulker) submit(ctx context.Context, keys []string, fors []int64) error {
	e := b.rv.e
	if n := e.cfg.Budget.Reserve(int64(len(keys))); n == 0 {
		return nil
	} else if n < int64(len(keys)) {
		keys, fors = keys[:n], fors[:n]
		e.cfg.Budget.Stop(ErrBudget)
	}
	e.cfg.Count(counter.BulkJobs, 1)
	job, err := e.cfg.API.SubmitBulkVerify(ctx, keys)
	if err != nil {
		if e.fatal(err) {
			return nil
		}
		e.cfg.Count(counter.LookupErrors, int64(len(keys)))
		for _, k := range keys {
			b.rv.complete(ctx, k, nil, fmt.Errorf("bulk upload: %w", err))
		}
		return nil
	}
	now := time.Now()
	data, err := json.Marshal(parked{For: fors})
	if err != nil {
		return err
	}
	if err := e.cfg.Ledger.PutPending(ctx, Pending{Kind: KindVerify, Handle: job.ID, Keys: keys, Data: data, CreatedAt: now}); err != nil {
		return fmt.Errorf("record bulk job: %w", err)
	}
	due := now.Add(e.cfg.PollInitial)
	if job.EstimatedCompletion.After(due) {
		due = job.EstimatedCompletion
	}
	if limit := now.Add(e.cfg.AsyncTimeout); due.After(limit) {
		due = limit // the rows are written pending then
	}
	e.polls.add(&pollItem{kind: KindVerify, keys: keys, fors: fors, handle: job.ID, created: now, interval: e.cfg.PollInitial, due: due})
	return nil
}

// poll checks a bulk job and, once it completed, joins its results.
func (b *bulker) poll(ctx context.Context, it *pollItem) error {
	e := b.rv.e
	if e.cfg.Budget.Stopping() {
		return nil
	}
	e.cfg.Count(counter.Polls, 1)
	st, err := e.cfg.API.BulkVerifyStatus(ctx, it.handle)
	if err == nil && st.Completed {
		var res []customeros.Verification
		res, err = e.cfg.API.DownloadBulkVerify(ctx, it.handle)
		if err == nil {
			// The job was billed per known record; its results are where
			// the run learns which ones those are.
			var billed int64
			for i := range res {
				billed += b2i(res[i].Billed())
			}
			e.cfg.Bill(customeros.EndpointBulkSubmit, billed)
			return b.join(ctx, it, res)
		}
		if errors.Is(err, customeros.ErrNotReady) {
			err = nil
		}
	}
	if err != nil {
		if e.fatal(err) {
			return nil
		}
		if customeros.Gone(err) {
			if err := e.forget(ctx, KindVerify, it.handle); err != nil {
				return err
			}
			for _, k := range it.keys {
				b.rv.complete(ctx, k, nil, fmt.Errorf("bulk job %s: %w", it.handle, err))
			}
			return nil
		}
		e.log.Warn("bulk poll", "job", it.handle, "err", err)
	}
	now := time.Now()
	if now.Sub(it.created) >= e.cfg.AsyncTimeout {
		// Written pending; the job stays in the ledger and a later run
		// polls it.
		e.cfg.Count(counter.AsyncTimeouts, 1)
		for i, k := range it.keys {
			a := &Answer{Stored: StoredResult{Kind: KindVerify, Key: k, Status: StatusPending, Verdict: StatusPending},
				Data: ResultData{Origin: OriginCall, For: it.fors[i]}}
			b.rv.settle(ctx, k, a)
		}
		return nil
	}
	it.backOff(now, e.cfg.PollMax)
	if st != nil && st.EstimatedCompletion.After(it.due) && st.EstimatedCompletion.Sub(now) < e.cfg.PollMax {
		it.due = st.EstimatedCompletion
	}
	e.polls.add(it)
	return nil
}

// join stores the downloaded results and completes every key of the job.
func (b *bulker) join(ctx context.Context, it *pollItem, res []customeros.Verification) error {
	byEmail := make(map[string]*customeros.Verification, len(res))
	for i := range res {
		byEmail[strings.ToLower(strings.TrimSpace(res[i].Email))] = &res[i]
	}
	for i, k := range it.keys {
		v, ok := byEmail[k]
		if !ok {
			b.rv.complete(ctx, k, nil, fmt.Errorf("address missing from bulk job %s results", it.handle))
			continue
		}
		a, err := verifyAnswer(k, v, it.fors[i])
		if err != nil {
			return err
		}
		if err := b.rv.store(ctx, k, a); err != nil {
			return err
		}
	}
	// Every answer is durable: the job is done with.
	return b.rv.e.cfg.Ledger.DeletePending(ctx, PendingID{Kind: KindVerify, Handle: it.handle})
}
