package pipeline

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/shard"
	"github.com/contactbatch/batch/pipeline/lookup"
)

// Defaults for Config.
const (
	DefaultWorkers        = 16
	DefaultWindow         = 8192
	DefaultCommitRows     = 2000
	DefaultCommitInterval = 200 * time.Millisecond
	DefaultAsyncTimeout   = 15 * time.Minute
	DefaultPollInitial    = 500 * time.Millisecond
	DefaultPollMax        = 30 * time.Second
	DefaultGrace          = 30 * time.Second
	DefaultBulkSize       = 5000
	DefaultBulkLinger     = 2 * time.Second
)

// ErrStopped reports a run that stopped before the end of its input but
// left its state consistent: running the same command again resumes it.
var ErrStopped = errors.New("run stopped; rerun the same command to resume")

// ErrBudget is the cause of a stop when --max-calls was reached.
var ErrBudget = lookup.ErrBudget

// StopError is a resumable stop and its cause (a signal, 401, 402, the
// budget, a long Retry-After).
type StopError struct{ Cause error }

func (e *StopError) Error() string { return "stopped: " + e.Cause.Error() }

// Is makes errors.Is(err, ErrStopped) true.
func (e *StopError) Is(target error) bool { return target == ErrStopped }

// Unwrap returns the cause.
func (e *StopError) Unwrap() error { return e.Cause }

// Config wires a run. Source, Sink, Rejects, Ledger and (when a stage is
// enabled) API and Checker are required.
type Config struct {
	Source  Source
	Sink    Sink
	Rejects RejectSink
	Ledger  Ledger
	Cache   Cache // optional: answers from earlier runs
	API     API
	Checker *contact.Checker
	// MX, when set, makes addresses whose domain has no MX record invalid
	// locally (--check-mx).
	MX *contact.MXChecker

	Stages        Stages
	IncludeMobile bool
	// SendInvalid sends locally invalid addresses to the API anyway.
	SendInvalid bool
	// Refresh ignores cached answers (they are still written).
	Refresh bool
	// VerifyMode is "single" (default) or "bulk".
	VerifyMode string
	BulkSize   int
	BulkLinger time.Duration

	Workers        int           // per API stage; DefaultWorkers
	Window         int           // rows between the oldest unwritten row and the reader; DefaultWindow
	CommitRows     int           // DefaultCommitRows
	CommitInterval time.Duration // DefaultCommitInterval
	MaxCalls       int64         // paid calls this run may make; 0 = no cap
	AsyncTimeout   time.Duration // DefaultAsyncTimeout
	PollInitial    time.Duration
	PollMax        time.Duration
	Grace          time.Duration // time in-flight calls get to finish after a stop

	// Resume is where the run starts (the ledger's last Progress).
	Resume Progress
	// Fresh says the ledger holds no result yet (a new job), so a key this
	// run has not stored need not be looked up in it.
	Fresh bool
	// Nested asks for Output.Nested and Output.Raw (JSONL and database
	// sinks use them; CSV does not).
	Nested bool
	// Shard is the part of the input this run processes (the zero Spec:
	// all of it). Rows and rejects of other shards are read and skipped.
	Shard  shard.Spec
	Logger *slog.Logger
}

// Runner executes one run. Create it with New; Snapshot may be called
// concurrently with Run.
type Runner struct {
	cfg  Config
	cols []column

	window chan struct{}
	mxJobs chan *record // rows to plan on MX workers; nil without cfg.MX
	ready  chan *record

	// budget holds the paid-call allowance and the stop switch.
	budget *lookup.Budget
	engine *lookup.Engine

	busy     atomic.Int64 // rows being planned on MX workers
	readDone atomic.Bool
	inNext   atomic.Bool // the reader waits on the input (stdin can block)

	stats *Stats
}

// New checks cfg, fills defaults and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Source == nil || cfg.Sink == nil || cfg.Rejects == nil || cfg.Ledger == nil {
		return nil, errors.New("pipeline: source, sink, rejects and ledger are required")
	}
	if (cfg.Stages.Verify || cfg.Stages.EnrichPerson || cfg.Stages.EnrichOrg) && cfg.API == nil {
		return nil, errors.New("pipeline: an API client is required when a stage is enabled")
	}
	if cfg.Checker == nil {
		return nil, errors.New("pipeline: a contact checker is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Workers, DefaultWorkers)
	def(&cfg.Window, DefaultWindow)
	def(&cfg.CommitRows, DefaultCommitRows)
	def(&cfg.BulkSize, DefaultBulkSize)
	defd(&cfg.CommitInterval, DefaultCommitInterval)
	defd(&cfg.AsyncTimeout, DefaultAsyncTimeout)
	defd(&cfg.PollInitial, DefaultPollInitial)
	defd(&cfg.PollMax, DefaultPollMax)
	defd(&cfg.Grace, DefaultGrace)
	defd(&cfg.BulkLinger, DefaultBulkLinger)
	if cfg.VerifyMode == "" {
		cfg.VerifyMode = "single"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg:    cfg,
		cols:   columns(cfg.Stages),
		window: make(chan struct{}, cfg.Window),
		ready:  make(chan *record, cfg.Window+1),
		budget: lookup.NewBudget(cfg.MaxCalls, cfg.Logger),
		stats:  newStats(cfg.Resume.Counters),
	}
	r.stats.seq.Store(cfg.Resume.Seq)
	if cfg.MX != nil {
		r.mxJobs = make(chan *record)
	}
	r.engine = lookup.New(lookup.Config{
		Ledger: cfg.Ledger, Cache: cfg.Cache, API: cfg.API,
		Budget: r.budget, Count: r.stats.count, Bill: r.stats.bill, Logger: cfg.Logger,
		Kinds:      cfg.Stages.kinds(),
		BulkVerify: cfg.VerifyMode == "bulk", BulkSize: cfg.BulkSize, BulkLinger: cfg.BulkLinger,
		Workers: cfg.Workers, IncludeMobile: cfg.IncludeMobile, Refresh: cfg.Refresh, Fresh: cfg.Fresh,
		AsyncTimeout: cfg.AsyncTimeout, PollInitial: cfg.PollInitial, PollMax: cfg.PollMax,
	})
	return r, nil
}

// Schema returns the output schema of the run.
func (r *Runner) Schema() Schema { return ResultSchema(r.cfg.Source.Header(), r.cfg.Stages) }

// Run processes the input from cfg.Resume to the end, or until ctx is
// cancelled (a resumable stop: in-flight calls get cfg.Grace to finish and
// everything finished is committed). On success every row is written and
// the sinks are closed (published). A resumable stop returns an error
// matching ErrStopped.
func (r *Runner) Run(ctx context.Context) (Summary, error) {
	start := time.Now()
	// Work keeps going for a grace period after ctx is cancelled so that
	// calls already paid for are recorded.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	g, gctx := errgroup.WithContext(work)

	go func() {
		select {
		case <-ctx.Done():
			r.budget.Stop(context.Cause(ctx))
		case <-gctx.Done():
			return
		}
		select {
		case <-time.After(r.cfg.Grace):
			cancelWork()
		case <-gctx.Done():
		}
	}()

	if err := r.engine.Restore(gctx); err != nil {
		return Summary{}, err
	}

	total := make(chan int64, 1)
	g.Go(func() error { return r.read(gctx, total) })
	if r.mxJobs != nil {
		for range r.cfg.Workers {
			g.Go(func() error { return r.mxWork(gctx) })
		}
	}
	r.engine.Start(gctx, g)
	var finished bool
	g.Go(func() error {
		defer cancelWork() // the writer decides when everything is done
		var err error
		finished, err = r.write(gctx, total)
		return err
	})
	err := g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return r.summary(start), err
	}
	if !finished {
		cause := error(context.Canceled)
		if c := r.budget.Cause(); c != nil {
			cause = c
		}
		return r.summary(start), &StopError{Cause: cause}
	}
	// Publish, then mark the job finished.
	closeCtx := context.WithoutCancel(ctx)
	if err := r.cfg.Rejects.Close(closeCtx); err != nil {
		return r.summary(start), fmt.Errorf("close rejects: %w", err)
	}
	if err := r.cfg.Sink.Close(closeCtx); err != nil {
		return r.summary(start), fmt.Errorf("close output: %w", err)
	}
	if err := r.cfg.Ledger.Commit(closeCtx, r.progress(true)); err != nil {
		return r.summary(start), fmt.Errorf("commit: %w", err)
	}
	return r.summary(start), nil
}

// read plans every row: it reads, normalizes, checks locally and requests
// the lookups each row needs. It sends the number of rows on total when
// the input ends.
func (r *Runner) read(ctx context.Context, total chan<- int64) error {
	defer func() {
		r.readDone.Store(true)
		r.engine.InputDone()
	}()
	seq := r.cfg.Resume.Seq
	for {
		select {
		case r.window <- struct{}{}:
		case <-r.budget.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
		r.inNext.Store(true)
		row, err := r.cfg.Source.Next(ctx)
		r.inNext.Store(false)
		if errors.Is(err, io.EOF) {
			<-r.window
			total <- seq
			return nil
		}
		var rowErr *RowError
		if errors.As(err, &rowErr) {
			rec := &record{seq: seq, row: Row{Line: rowErr.Line, Origin: rowErr.Origin, Cursor: rowErr.Cursor}, run: r}
			rec.reject = &Reject{Seq: seq, Line: rowErr.Line, Origin: rowErr.Origin, Reason: rowErr.Reason, Raw: rowErr.Raw}
			seq++
			r.stats.read.Add(1)
			r.ready <- rec
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read input: %w", err)
		}
		rec := &record{seq: seq, row: row, run: r}
		seq++
		r.stats.read.Add(1)
		if r.mxJobs == nil {
			r.plan(ctx, rec)
			continue
		}
		// With --check-mx, planning waits for DNS: MX workers plan rows
		// concurrently (the writer restores input order). The row counts
		// as busy from here, so a stop waits for it.
		r.busy.Add(1)
		select {
		case r.mxJobs <- rec:
		case <-r.budget.Done():
			r.busy.Add(-1)
			return nil
		case <-ctx.Done():
			r.busy.Add(-1)
			return nil
		}
	}
}

// mxWork plans rows whose checks include an MX lookup.
func (r *Runner) mxWork(ctx context.Context) error {
	for {
		select {
		case rec := <-r.mxJobs:
			r.plan(ctx, rec)
			r.busy.Add(-1) // added by the reader
		case <-ctx.Done():
			return nil
		}
	}
}

// plan normalizes rec and requests its lookups.
func (r *Runner) plan(ctx context.Context, rec *record) {
	rec.contact = contact.Normalize(rec.row.Contact, r.cfg.Checker.NotCompany)
	if !r.cfg.Shard.OwnsRow(rec.contact, rec.seq) {
		rec.otherShard = true
		rec.waiting.Store(1)
		r.lookupDone(rec)
		return
	}
	if rec.contact.Email != "" {
		rec.checks = r.cfg.Checker.Check(rec.contact.Email)
		if rec.checks.Valid && r.cfg.MX != nil {
			ok, err := r.cfg.MX.HasMX(ctx, rec.checks.Domain)
			if err == nil && !ok {
				rec.checks.Valid = false
				rec.checks.Reason = "domain has no MX record"
			}
		}
	}
	wanted := Lookups(rec.contact, rec.checks, r.cfg.Stages, r.cfg.SendInvalid)
	for _, lk := range wanted {
		*rec.want(lk.Kind) = want{wanted: true, key: lk.Key, rec: rec}
	}
	rec.waiting.Store(int32(1 + len(wanted)))
	for _, lk := range wanted {
		r.engine.Request(ctx, lookup.Request{Kind: lk.Kind, Key: lk.Key, For: rec.seq,
			FirstName: rec.contact.FirstName, LastName: rec.contact.LastName}, rec.want(lk.Kind))
	}
	r.lookupDone(rec)
}

// Lookup is one API lookup a row needs: its kind and the key that
// deduplicates it.
type Lookup struct {
	Kind Kind
	Key  string
}

// Lookups returns the lookups a normalized contact needs for the enabled
// stages. A person is looked up by email when the address may be sent,
// else by LinkedIn URL; an organization by domain, else company LinkedIn.
func Lookups(c contact.Contact, checks contact.Checks, st Stages, sendInvalid bool) []Lookup {
	var out []Lookup
	sendable := c.Email != "" && (checks.Valid || sendInvalid)
	if st.Verify && sendable {
		out = append(out, Lookup{KindVerify, c.Email})
	}
	if st.EnrichPerson {
		switch {
		case sendable:
			out = append(out, Lookup{KindPerson, "email:" + c.Email})
		case c.LinkedInURL != "":
			out = append(out, Lookup{KindPerson, "linkedin:" + c.LinkedInURL})
		}
	}
	if st.EnrichOrg {
		switch {
		case c.Domain != "":
			out = append(out, Lookup{KindOrg, "domain:" + c.Domain})
		case c.CompanyLinkedInURL != "":
			out = append(out, Lookup{KindOrg, "linkedin:" + c.CompanyLinkedInURL})
		}
	}
	return out
}

// lookupDone drops one of rec's outstanding lookups and hands rec to the
// writer when none is left. The ready channel holds a slot for every row
// in the window, so the send never blocks.
func (r *Runner) lookupDone(rec *record) {
	if rec.waiting.Add(-1) == 0 {
		r.ready <- rec
	}
}

// write writes finished records in input order and commits periodically.
// It reports whether every row was written.
func (r *Runner) write(ctx context.Context, total <-chan int64) (bool, error) {
	next := r.cfg.Resume.Seq
	end := int64(-1)
	r.stats.cursor = r.cfg.Resume.Cursor
	r.stats.sinkPos, r.stats.rejectPos = r.cfg.Resume.SinkPos, r.cfg.Resume.RejectPos
	var h recordHeap
	dirty := 0
	ticker := time.NewTicker(r.cfg.CommitInterval)
	defer ticker.Stop()
	var quiet <-chan time.Time // polls for quiescence after a stop

	flush := func() error {
		for h.Len() > 0 && h[0].seq == next {
			rec := heap.Pop(&h).(*record)
			if err := r.emit(ctx, rec); err != nil {
				return err
			}
			next++
			dirty++
			<-r.window
		}
		if dirty >= r.cfg.CommitRows {
			dirty = 0
			return r.commit(ctx, next)
		}
		return nil
	}
	stopCh := r.budget.Done()
	for {
		if end >= 0 && next == end {
			return true, r.commit(ctx, next)
		}
		select {
		case rec := <-r.ready:
			heap.Push(&h, rec)
			if err := flush(); err != nil {
				return false, err
			}
		case n := <-total:
			end = n
		case <-ticker.C:
			if dirty > 0 {
				dirty = 0
				if err := r.commit(ctx, next); err != nil {
					return false, err
				}
			}
		case <-stopCh:
			stopCh = nil
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			quiet = t.C
		case <-quiet:
			// A reader blocked on its input plans nothing more this run.
			if !(r.readDone.Load() || r.inNext.Load()) || r.busy.Load() != 0 || r.engine.Busy() != 0 {
				continue
			}
			// Nothing can become ready any more: write what is, commit, stop.
		drain:
			for {
				select {
				case rec := <-r.ready:
					heap.Push(&h, rec)
				default:
					break drain
				}
			}
			if err := flush(); err != nil {
				return false, err
			}
			return end >= 0 && next == end, r.commit(ctx, next)
		case <-ctx.Done():
			// Out of grace (or failing): still record what was written.
			if err := r.commit(context.WithoutCancel(ctx), next); err != nil {
				return false, err
			}
			return false, ctx.Err()
		}
	}
}

// emit writes one record to its sink and counts it.
func (r *Runner) emit(ctx context.Context, rec *record) error {
	r.stats.cursor = rec.row.Cursor
	if rec.otherShard || (rec.reject != nil && !r.cfg.Shard.OwnsReject(rec.seq)) {
		r.stats.count("rows_other_shard", 1)
		return nil
	}
	if rec.reject != nil {
		r.stats.count("rows_rejected", 1)
		return r.cfg.Rejects.WriteReject(ctx, rec.reject)
	}
	out := rec.output(r.cols, r.cfg.Nested)
	r.stats.countRow(rec, r.cfg.Stages)
	return r.cfg.Sink.Write(ctx, out)
}

// commit makes the sinks durable, then records the progress: a crash
// between the two replays rows, it never skips them.
func (r *Runner) commit(ctx context.Context, next int64) error {
	pos, err := r.cfg.Sink.Commit(ctx)
	if err != nil {
		return fmt.Errorf("commit output: %w", err)
	}
	rpos, err := r.cfg.Rejects.Commit(ctx)
	if err != nil {
		return fmt.Errorf("commit rejects: %w", err)
	}
	r.stats.sinkPos, r.stats.rejectPos = pos, rpos
	r.stats.seq.Store(next)
	if err := r.cfg.Ledger.Commit(ctx, r.progress(false)); err != nil {
		return fmt.Errorf("commit ledger: %w", err)
	}
	return nil
}

func (r *Runner) progress(finished bool) Progress {
	return Progress{
		Seq:       r.stats.seq.Load(),
		Cursor:    r.stats.cursor,
		SinkPos:   r.stats.sinkPos,
		RejectPos: r.stats.rejectPos,
		Counters:  r.stats.counters(),
		Finished:  finished,
	}
}

// recordHeap orders records by Seq.
type recordHeap []*record

func (h recordHeap) Len() int           { return len(h) }
func (h recordHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h recordHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recordHeap) Push(x any)        { *h = append(*h, x.(*record)) }
func (h *recordHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}
