package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// bulker gathers verify keys into bulk jobs (--verify-mode bulk): one
// upload per BulkSize keys or per BulkLinger, the job id durable before the
// first poll, results joined back by address.
type bulker struct {
	rv *resolver

	mu    sync.Mutex
	keys  []string
	first time.Time
}

func newBulker(rv *resolver) *bulker {
	b := &bulker{rv: rv}
	rv.run.bulk = b
	return b
}

// add queues key for the next upload.
func (b *bulker) add(ctx context.Context, key string) {
	b.mu.Lock()
	if len(b.keys) == 0 {
		b.first = time.Now()
	}
	b.keys = append(b.keys, key)
	var batch []string
	if len(b.keys) >= b.rv.run.cfg.BulkSize {
		batch, b.keys = b.keys, nil
	}
	b.mu.Unlock()
	if batch != nil {
		b.submit(ctx, batch)
	}
}

// run uploads partial batches once they have waited BulkLinger, or as soon
// as the input is exhausted.
func (b *bulker) run(ctx context.Context) error {
	t := time.NewTicker(b.rv.run.cfg.BulkLinger / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
		b.mu.Lock()
		var batch []string
		if len(b.keys) > 0 && (time.Since(b.first) >= b.rv.run.cfg.BulkLinger || b.rv.run.readDone.Load()) {
			batch, b.keys = b.keys, nil
		}
		b.mu.Unlock()
		if batch != nil {
			b.rv.run.busy.Add(1)
			b.submit(ctx, batch)
			b.rv.run.busy.Add(-1)
		}
	}
}

// submit uploads one batch and parks the job.
func (b *bulker) submit(ctx context.Context, keys []string) {
	run := b.rv.run
	if !run.reserveN(int64(len(keys))) {
		return
	}
	run.stats.count("calls_bulk_jobs", 1)
	run.stats.count("calls_verify", int64(len(keys)))
	job, err := run.cfg.API.SubmitBulkVerify(ctx, keys)
	if err != nil {
		if run.fatal(err) {
			return
		}
		run.stats.count("lookup_errors", int64(len(keys)))
		for _, k := range keys {
			b.rv.complete(k, nil, fmt.Errorf("bulk upload: %w", err))
		}
		return
	}
	now := time.Now()
	if err := run.cfg.Ledger.PutPending(ctx, Pending{Kind: KindVerify, Handle: job.ID, Keys: keys, CreatedAt: now}); err != nil {
		run.stop(fmt.Errorf("record bulk job %s: %w", job.ID, err))
		return
	}
	due := now.Add(run.cfg.PollInitial)
	if job.EstimatedCompletion.After(due) {
		due = job.EstimatedCompletion
	}
	run.polls.add(&pollItem{kind: KindVerify, keys: keys, handle: job.ID, created: now, interval: run.cfg.PollInitial, due: due})
}

// poll checks a bulk job and, once it completed, joins its results.
func (b *bulker) poll(ctx context.Context, it *pollItem) error {
	run := b.rv.run
	if run.stopping() {
		return nil
	}
	run.stats.count("polls", 1)
	st, err := run.cfg.API.BulkVerifyStatus(ctx, it.handle)
	if err == nil && st.Completed {
		var res []customeros.Verification
		res, err = run.cfg.API.DownloadBulkVerify(ctx, it.handle)
		if err == nil {
			return b.join(ctx, it, res)
		}
		if errors.Is(err, customeros.ErrNotReady) {
			err = nil
		}
	}
	if err != nil {
		if run.fatal(err) {
			return nil
		}
		if isGone(err) {
			for _, k := range it.keys {
				b.rv.complete(k, nil, fmt.Errorf("bulk job %s: %w", it.handle, err))
			}
			return nil
		}
		run.log.Warn("bulk poll", "job", it.handle, "err", err)
	}
	now := time.Now()
	it.interval = min(time.Duration(float64(it.interval)*1.5), run.cfg.PollMax)
	it.due = now.Add(it.interval)
	if st != nil && st.EstimatedCompletion.After(it.due) && st.EstimatedCompletion.Sub(now) < run.cfg.PollMax {
		it.due = st.EstimatedCompletion
	}
	run.polls.add(it)
	return nil
}

// join stores the downloaded results and completes every key of the job.
func (b *bulker) join(ctx context.Context, it *pollItem, res []customeros.Verification) error {
	byEmail := make(map[string]*customeros.Verification, len(res))
	for i := range res {
		byEmail[strings.ToLower(strings.TrimSpace(res[i].Email))] = &res[i]
	}
	done := PendingID{Kind: KindVerify, Handle: it.handle}
	for i, k := range it.keys {
		v, ok := byEmail[k]
		if !ok {
			b.rv.complete(k, nil, fmt.Errorf("address missing from bulk job %s results", it.handle))
			continue
		}
		a, err := verifyAnswer(k, v)
		if err != nil {
			return err
		}
		var ids []PendingID
		if i == len(it.keys)-1 {
			ids = []PendingID{done}
		}
		if err := b.rv.store(ctx, k, a, ids...); err != nil {
			return err
		}
	}
	return nil
}
