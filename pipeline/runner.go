package pipeline

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/internal/defaults"
	"github.com/contactbatch/batch/internal/shard"
	"github.com/contactbatch/batch/pipeline/counter"
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

// VerifyMode is how verify lookups are sent (--verify-mode).
type VerifyMode string

// Verify modes.
const (
	VerifySingle VerifyMode = "single" // one call per address
	VerifyBulk   VerifyMode = "bulk"   // bulk jobs of up to BulkSize addresses
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
	// SharedCache says Cache is shared by the processes of a job: an
	// answer is in it before its row is done, and a write that fails stops
	// the run resumably (see lookup.Config.SharedCache).
	SharedCache bool
	API         API
	Checker     *contact.Checker
	// MX, when set, makes addresses whose domain has no MX record invalid
	// locally (--check-mx).
	MX *contact.MXChecker

	Stages        Stages
	IncludeMobile bool
	// SendInvalid sends locally invalid addresses to the API anyway.
	SendInvalid bool
	// Refresh ignores cached answers (they are still written).
	Refresh bool
	// VerifyMode is VerifySingle (default) or VerifyBulk.
	VerifyMode VerifyMode
	BulkSize   int
	BulkLinger time.Duration

	Workers        int           // per API stage; DefaultWorkers
	Window         int           // rows between the oldest unwritten row and the reader; DefaultWindow
	CommitRows     int           // DefaultCommitRows
	CommitInterval time.Duration // DefaultCommitInterval
	MaxCalls       int64         // paid calls this run may make; 0 = no cap
	// BudgetPool, when set, replaces MaxCalls with a budget shared with
	// other processes (the shards of a job).
	BudgetPool   lookup.Pool
	AsyncTimeout time.Duration // DefaultAsyncTimeout
	PollInitial  time.Duration
	PollMax      time.Duration
	Grace        time.Duration // time in-flight calls get to finish after a stop
	// Breaker watches the API calls' outcomes and stops the run resumably
	// when the API looks down (see customeros.Breaker and guard); nil means
	// one with the defaults.
	Breaker *customeros.Breaker

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

func newBudget(cfg Config) *lookup.Budget {
	if cfg.BudgetPool != nil {
		return lookup.NewPooledBudget(cfg.BudgetPool, cfg.Logger)
	}
	return lookup.NewBudget(cfg.MaxCalls, cfg.Logger)
}

// Runner executes one run. Create it with New; Snapshot may be called
// concurrently with Run.
type Runner struct {
	cfg  Config
	cols []column

	// window holds a slot for every row between the reader and the
	// writer: it bounds how far the reader runs ahead of the oldest row not
	// yet written.
	window chan struct{}
	// ready carries planned rows whose lookups are all answered to the
	// writer. The planners and the lookup engine send on it; it is closed
	// once all of them are done.
	ready chan *record
	// end is the number of rows of the whole input, once the reader
	// reached its end; -1 before.
	end atomic.Int64

	// budget holds the paid-call allowance and the stop switch.
	budget *lookup.Budget
	engine *lookup.Engine

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
	cfg.setDefaults()
	if cfg.API != nil {
		cfg.API = newGuard(cfg.API, cfg.Breaker)
	}
	r := &Runner{
		cfg:    cfg,
		cols:   columns(cfg.Stages),
		window: make(chan struct{}, cfg.Window),
		ready:  make(chan *record, cfg.Window+1),
		budget: newBudget(cfg),
		stats:  newStats(cfg.Resume.Counters),
	}
	r.stats.seq.Store(cfg.Resume.Seq)
	r.end.Store(-1)
	r.engine = lookup.New(lookup.Config{
		Ledger: cfg.Ledger, Cache: cfg.Cache, SharedCache: cfg.SharedCache, API: cfg.API,
		Budget: r.budget, Count: r.stats.count, Bill: r.stats.bill, Logger: cfg.Logger,
		Kinds:      cfg.Stages.kinds(),
		BulkVerify: cfg.VerifyMode == VerifyBulk, BulkSize: cfg.BulkSize, BulkLinger: cfg.BulkLinger,
		Workers: cfg.Workers, IncludeMobile: cfg.IncludeMobile, Refresh: cfg.Refresh, Fresh: cfg.Fresh,
		AsyncTimeout: cfg.AsyncTimeout, PollInitial: cfg.PollInitial, PollMax: cfg.PollMax,
	})
	return r, nil
}

// setDefaults fills the unset fields with their defaults (see
// internal/defaults).
func (c *Config) setDefaults() {
	c.Workers = defaults.Or(c.Workers, DefaultWorkers)
	c.Window = defaults.Or(c.Window, DefaultWindow)
	c.CommitRows = defaults.Or(c.CommitRows, DefaultCommitRows)
	c.BulkSize = defaults.Or(c.BulkSize, DefaultBulkSize)
	c.CommitInterval = defaults.Or(c.CommitInterval, DefaultCommitInterval)
	c.AsyncTimeout = defaults.Or(c.AsyncTimeout, DefaultAsyncTimeout)
	c.PollInitial = defaults.Or(c.PollInitial, DefaultPollInitial)
	c.PollMax = defaults.Or(c.PollMax, DefaultPollMax)
	c.Grace = defaults.Or(c.Grace, DefaultGrace)
	c.BulkLinger = defaults.Or(c.BulkLinger, DefaultBulkLinger)
	c.VerifyMode = defaults.Or(c.VerifyMode, VerifySingle)
	if c.Breaker == nil {
		c.Breaker = &customeros.Breaker{URL: "the API"}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
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
	defer r.giveBackCalls(ctx)
	// Work keeps going for a grace period after ctx is cancelled so that
	// calls already paid for are recorded.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	g, gctx := errgroup.WithContext(work)
	go r.stopOnCancel(ctx, gctx, cancelWork)

	if err := r.engine.Restore(gctx); err != nil {
		return Summary{}, err
	}
	var finished bool
	r.startStages(gctx, g, cancelWork, &finished)
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return r.summary(start), err
	}
	if !finished {
		return r.summary(start), r.stopError()
	}
	err := r.publish(context.WithoutCancel(ctx))
	return r.summary(start), err
}

// giveBackCalls returns the calls the run reserved and did not make to a
// shared budget.
func (r *Runner) giveBackCalls(ctx context.Context) {
	if err := r.budget.Close(context.WithoutCancel(ctx)); err != nil {
		r.cfg.Logger.Warn("give back unused calls", "err", err)
	}
}

// stopOnCancel stops the run when ctx is cancelled (no new paid call), and
// cancels the work cfg.Grace later; it returns when the stages (work) end.
func (r *Runner) stopOnCancel(ctx, work context.Context, cancelWork context.CancelFunc) {
	select {
	case <-ctx.Done():
		r.budget.Stop(context.Cause(ctx))
	case <-work.Done():
		return
	}
	select {
	case <-time.After(r.cfg.Grace):
		cancelWork()
	case <-work.Done():
	}
}

// startStages starts the stages in g, each closing what it sends on (the
// errgroup pipeline pattern): the reader closes rows; the planners and the
// engine feed ready, closed when all of them have returned; the writer ends
// when ready is closed, and sets *finished when it wrote the whole input.
func (r *Runner) startStages(ctx context.Context, g *errgroup.Group, cancelWork context.CancelFunc, finished *bool) {
	rows := make(chan *record, rowBuffer)
	g.Go(func() error { return r.read(ctx, rows) })
	planning := r.startPlanners(ctx, g, rows)
	engineDone := make(chan struct{})
	g.Go(func() error {
		defer close(engineDone)
		return r.engine.Run(ctx)
	})
	g.Go(func() error {
		planning.Wait()
		r.engine.InputDone()
		<-engineDone
		close(r.ready)
		return nil
	})
	g.Go(func() error {
		defer cancelWork() // nothing is left to wait for once the writer returns
		var err error
		*finished, err = r.write(ctx)
		return err
	})
}

// startPlanners starts the planners over rows in g: one, or cfg.Workers
// when planning waits for DNS (--check-mx). The WaitGroup is done when all
// of them have returned.
func (r *Runner) startPlanners(ctx context.Context, g *errgroup.Group, rows <-chan *record) *sync.WaitGroup {
	planners := 1
	if r.cfg.MX != nil {
		planners = r.cfg.Workers // planning waits for DNS: plan rows concurrently
	}
	var planning sync.WaitGroup
	for range planners {
		planning.Add(1)
		g.Go(func() error {
			defer planning.Done()
			r.planRows(ctx, rows)
			return nil
		})
	}
	return &planning
}

// stopError is the resumable stop of a run that did not write its whole
// input: the budget's cause (a signal, 401, 402, the budget...) or, without
// one, context.Canceled.
func (r *Runner) stopError() error {
	cause := error(context.Canceled)
	if c := r.budget.Cause(); c != nil {
		cause = c
	}
	return &StopError{Cause: cause}
}

// publish closes (publishes) the rejects and the output, then commits the
// job as finished.
func (r *Runner) publish(ctx context.Context) error {
	if err := r.cfg.Rejects.Close(ctx); err != nil {
		return fmt.Errorf("close rejects: %w", err)
	}
	if err := r.cfg.Sink.Close(ctx); err != nil {
		return fmt.Errorf("close output: %w", err)
	}
	if err := r.cfg.Ledger.Commit(ctx, r.progress(true)); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rowBuffer is the number of read rows waiting for a planner.
const rowBuffer = 64

// read reads rows into records and sends them on rows, which it closes
// when the input ends (setting r.end), when the run stops or when ctx
// ends. It takes a window slot per row first, so that it never runs more
// than Window rows ahead of the writer.
func (r *Runner) read(ctx context.Context, rows chan<- *record) error {
	defer close(rows)
	seq := r.cfg.Resume.Seq
	for {
		select {
		case r.window <- struct{}{}:
		case <-r.budget.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
		row, err := r.cfg.Source.Next(ctx)
		if errors.Is(err, io.EOF) {
			<-r.window
			r.end.Store(seq)
			return nil
		}
		var rec *record
		var rowErr *RowError
		switch {
		case errors.As(err, &rowErr):
			rec = &record{seq: seq, row: Row{Line: rowErr.Line, Origin: rowErr.Origin, Cursor: rowErr.Cursor}, run: r}
			rec.reject = &Reject{Seq: seq, Line: rowErr.Line, Origin: rowErr.Origin, Reason: rowErr.Reason, Raw: rowErr.Raw}
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrStopped) {
				return err // the source's own resumable stop (its storage is down) says what to do
			}
			return fmt.Errorf("read input: %w", err)
		default:
			rec = &record{seq: seq, row: row, run: r}
		}
		seq++
		r.stats.read.Add(1)
		select {
		case rows <- rec:
		case <-r.budget.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// planRows plans the records read until rows is closed or the run stops.
// It does not wait for the reader once the run stops: a reader blocked on
// its input (stdin) plans nothing more this run.
func (r *Runner) planRows(ctx context.Context, rows <-chan *record) {
	for {
		select {
		case rec, ok := <-rows:
			if !ok {
				return
			}
			if rec.reject != nil {
				r.toWriter(ctx, rec)
				continue
			}
			r.plan(ctx, rec)
		case <-r.budget.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// plan normalizes rec and requests its lookups.
func (r *Runner) plan(ctx context.Context, rec *record) {
	p := r.cfg.planner()
	rec.contact = p.Normalize(rec.row.Contact)
	if !r.cfg.Shard.OwnsRow(rec.contact, rec.seq) {
		rec.otherShard = true
		r.toWriter(ctx, rec)
		return
	}
	pl := p.Check(ctx, rec.contact)
	rec.checks = pl.Checks
	wanted := pl.Lookups
	for _, lk := range wanted {
		*rec.want(lk.Kind) = want{wanted: true, key: lk.ID(), rec: rec}
	}
	rec.waiting.Store(int32(1 + len(wanted)))
	for _, lk := range wanted {
		r.engine.Request(ctx, lookup.Request{Kind: lk.Kind, Key: lk.Key, For: rec.seq,
			FirstName: rec.contact.FirstName, LastName: rec.contact.LastName}, rec.want(lk.Kind))
	}
	r.lookupDone(ctx, rec)
}

// Lookup is one API lookup a row needs: its kind and what it looks up.
type Lookup struct {
	Kind Kind
	Key  lookup.Key
}

// ID is the lookup's key as the run dedupes it and the ledger and the
// cache store it (see lookup.Key.ID).
func (l Lookup) ID() string { return l.Key.ID(l.Kind) }

// Lookups returns the lookups a normalized contact needs for the enabled
// stages. A person is looked up by email when the address may be sent,
// else by LinkedIn URL; an organization by domain, else company LinkedIn.
func Lookups(c contact.Contact, checks contact.Checks, st Stages, sendInvalid bool) []Lookup {
	var out []Lookup
	sendable := c.Email != "" && (checks.Valid || sendInvalid)
	if st.Verify && sendable {
		out = append(out, Lookup{KindVerify, lookup.Key{By: lookup.ByEmail, Value: c.Email}})
	}
	if st.EnrichPerson {
		switch {
		case sendable:
			out = append(out, Lookup{KindPerson, lookup.Key{By: lookup.ByEmail, Value: c.Email}})
		case c.LinkedInURL != "":
			out = append(out, Lookup{KindPerson, lookup.Key{By: lookup.ByLinkedIn, Value: c.LinkedInURL}})
		}
	}
	if st.EnrichOrg {
		switch {
		case c.Domain != "":
			out = append(out, Lookup{KindOrg, lookup.Key{By: lookup.ByDomain, Value: c.Domain}})
		case c.CompanyLinkedInURL != "":
			out = append(out, Lookup{KindOrg, lookup.Key{By: lookup.ByLinkedIn, Value: c.CompanyLinkedInURL}})
		}
	}
	return out
}

// lookupDone drops one of rec's outstanding lookups and hands rec to the
// writer when none is left.
func (r *Runner) lookupDone(ctx context.Context, rec *record) {
	if rec.waiting.Add(-1) == 0 {
		r.toWriter(ctx, rec)
	}
}

// toWriter hands a finished record to the writer, unless ctx ends first
// (the run is failing or out of grace: the record is not written).
func (r *Runner) toWriter(ctx context.Context, rec *record) {
	select {
	case r.ready <- rec:
	case <-ctx.Done():
	}
}

// write writes finished records in input order and commits periodically,
// until ready is closed or ctx ends. It reports whether every row of the
// input was written.
func (r *Runner) write(ctx context.Context) (bool, error) {
	next := r.cfg.Resume.Seq
	r.stats.cursor = r.cfg.Resume.Cursor
	r.stats.sinkPos, r.stats.rejectPos = r.cfg.Resume.SinkPos, r.cfg.Resume.RejectPos
	var h recordHeap
	dirty := 0
	ticker := time.NewTicker(r.cfg.CommitInterval)
	defer ticker.Stop()
	for {
		select {
		case rec, ok := <-r.ready:
			if !ok {
				// Nothing can become ready any more: what could be written
				// in order was; commit it. The run finished if that is
				// every row of the input.
				end := r.end.Load()
				return end >= 0 && next == end, r.commit(ctx, next)
			}
			heap.Push(&h, rec)
			for h.Len() > 0 && h[0].seq == next {
				if err := r.emit(ctx, heap.Pop(&h).(*record)); err != nil {
					return false, err
				}
				next++
				dirty++
				<-r.window // taken by the reader for this row
			}
			if dirty >= r.cfg.CommitRows {
				dirty = 0
				if err := r.commit(ctx, next); err != nil {
					return false, err
				}
			}
		case <-ticker.C:
			if dirty > 0 {
				dirty = 0
				if err := r.commit(ctx, next); err != nil {
					return false, err
				}
			}
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
		r.stats.count(counter.RowsOtherShard, 1)
		return nil
	}
	if rec.reject != nil {
		r.stats.count(counter.RowsRejected, 1)
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
