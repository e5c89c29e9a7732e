package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/customeros/pace"
	"github.com/contactbatch/batch/internal/metrics"
	"github.com/contactbatch/batch/internal/redact"
	"github.com/contactbatch/batch/internal/shard"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
	"github.com/contactbatch/batch/sources/csvsource"
)

// jobOptions are the options that change a job's results: changing one
// between runs of the same state is refused unless --restart.
type jobOptions struct {
	Input         string            `json:"input"`
	Output        string            `json:"output"`
	Verify        bool              `json:"verify"`
	EnrichPerson  bool              `json:"enrich_person"`
	EnrichOrg     bool              `json:"enrich_org"`
	Map           map[string]string `json:"map,omitempty"`
	SendInvalid   bool              `json:"send_invalid"`
	CheckMX       bool              `json:"check_mx"`
	IncludeMobile bool              `json:"include_mobile"`
	VerifyMode    string            `json:"verify_mode"`
	Table         string            `json:"table,omitempty"`
	UpsertKey     string            `json:"upsert_key,omitempty"`
	Escape        bool              `json:"escape_formulas"`
	Shard         string            `json:"shard,omitempty"`
	Dialect       csvsource.Dialect `json:"dialect"`
	BOM           bool              `json:"bom,omitempty"`
	Sheet         string            `json:"sheet,omitempty"`
}

func (c *RunCmd) options(verifyMode string) jobOptions {
	o := jobOptions{
		Input: c.Input, Output: c.Output,
		Verify: c.Verify, EnrichPerson: c.EnrichPerson, EnrichOrg: c.EnrichOrg,
		Map: c.Map, SendInvalid: c.SendInvalid, CheckMX: c.CheckMX, IncludeMobile: c.IncludeMobile,
		VerifyMode: verifyMode, Escape: !c.NoEscape,
		Dialect: c.dialect, BOM: c.BOM, Sheet: c.Sheet,
	}
	if isDatabase(c.Output) {
		o.Table, o.UpsertKey = c.Table, c.UpsertKey
	}
	return o
}

func (j *JobFlags) stages() pipeline.Stages {
	return pipeline.Stages{Verify: j.Verify, EnrichPerson: j.EnrichPerson, EnrichOrg: j.EnrichOrg}
}

func (j *JobFlags) anyStage() bool { return j.Verify || j.EnrichPerson || j.EnrichOrg }

func isDatabase(out string) bool {
	return strings.HasPrefix(out, "sqlite://") || strings.HasPrefix(out, "postgres://") || strings.HasPrefix(out, "postgresql://")
}

func isLocalFile(out string) bool {
	return out != "" && out != "-" && !isDatabase(out) && !strings.HasPrefix(out, "s3://")
}

// defaultState picks the state directory: beside a file output, else in
// .batch-state/ under a hash of input and output.
func (c *RunCmd) defaultState() string {
	if c.State != "" {
		return c.State
	}
	if isLocalFile(c.Output) {
		return c.Output + ".state"
	}
	h := sha256.Sum256([]byte(c.Input + "\x00" + c.Output))
	return filepath.Join(".batch-state", hex.EncodeToString(h[:8]))
}

func (c *RunCmd) rejectsPath(state string) string {
	if c.Rejects != "" {
		return c.Rejects
	}
	if isLocalFile(c.Output) {
		ext := filepath.Ext(c.Output)
		return strings.TrimSuffix(c.Output, ext) + ".rejects.csv"
	}
	return filepath.Join(state, "rejects.csv")
}

// run runs the job, step by step. Everything that can refuse it (flags,
// input, columns, the output target) is checked before the first paid call,
// and a start that fails leaves no state directory behind when it created
// one.
func (c *RunCmd) run(ctx context.Context, e *env) (err error) {
	r, err := c.prepare(e)
	if err != nil {
		return err
	}
	if err := r.openState(ctx); err != nil {
		return err
	}
	defer func() { r.close(err) }()
	if err := r.identify(ctx); err != nil {
		return err
	}
	if done, err := r.resume(ctx); err != nil || done {
		return err
	}
	if err := r.lockOutput(ctx); err != nil {
		return err
	}
	if err := r.openInput(ctx); err != nil {
		return err
	}
	if err := r.openOutputs(ctx); err != nil {
		return err
	}
	runner, err := r.newRunner(ctx)
	if err != nil {
		return err
	}
	r.started = true
	w, err := r.watch(ctx, runner)
	if err != nil {
		return err
	}
	sum, runErr := runner.Run(ctx)
	return r.report(w, sum, runErr)
}

// jobRun is one run of a job while RunCmd.run builds it: what each step
// found or opened, for the steps after it. Its cleanups run in reverse order
// when the run ends (close).
type jobRun struct {
	c *RunCmd
	e *env

	shard       shard.Spec
	key, tenant string
	verifyMode  string

	state   string
	created bool // this run created the state directory
	// started is set once the run may pay: before that, a failed start
	// removes the state directory it created (and the job's partial files).
	started               bool
	ownOutput, ownRejects bool // this run opened the output, the rejects file
	finished              bool // the output is no longer this job's alone
	discard               bool // set by close: a failed start is undone

	ledger    *checkpoint.Ledger
	fp        string
	stdin     io.Reader
	optJSON   []byte
	identity  string
	sinkJobID string
	job       *checkpoint.Job
	progress  pipeline.Progress
	rowsTotal int64 // the job's rows, when known (a retry pass), else 0
	fresh     bool  // no earlier run of the job

	src      source
	sink     pipeline.Sink
	rejects  pipeline.RejectSink
	cache    pipeline.Cache
	client   *customeros.Client
	outcomes *outcomeCounter
	commits  chan struct{} // a commit happened: the recorder publishes figures
	domains  *domainCounts // rows per email domain, for the report

	cleanups []func()
}

// onClose adds f to what close runs, before everything added so far.
func (r *jobRun) onClose(f func()) { r.cleanups = append(r.cleanups, f) }

// close ends the run with err, the error run returns: it undoes a failed
// start (see started), then runs the cleanups in reverse order.
func (r *jobRun) close(err error) {
	r.discard = err != nil && !r.started && r.created
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// prepare checks the flags and picks the shard and API key; it touches
// nothing on disk.
func (c *RunCmd) prepare(e *env) (*jobRun, error) {
	if c.Output == "" {
		return nil, usagef("--output is required")
	}
	shardSpec, err := c.spec(e.Getenv)
	if err != nil {
		return nil, err
	}
	if err := c.applyShard(shardSpec); err != nil {
		return nil, err
	}
	if err := c.checkAPIURL(e); err != nil {
		return nil, err
	}
	keys, err := c.apiKeys(e.Getenv)
	if err != nil {
		return nil, err
	}
	key, tenant := pickKey(keys, shardSpec)
	e.secrets.setSecret(key)
	if c.anyStage() && key == "" {
		return nil, usagef("no API key: set CUSTOMEROS_API_KEY or --api-key-file")
	}
	verifyMode, err := c.checkRunFlags()
	if err != nil {
		return nil, err
	}
	return &jobRun{c: c, e: e, shard: shardSpec, key: key, tenant: tenant, verifyMode: verifyMode}, nil
}

// checkRunFlags checks the flags that only bound or tune the run, and
// returns the verify mode to use.
func (c *RunCmd) checkRunFlags() (string, error) {
	if c.AttemptTimeout <= 0 {
		return "", usagef("--attempt-timeout must be positive")
	}
	if c.Workers < 1 {
		return "", usagef("--workers must be at least 1")
	}
	verifyMode, err := c.resolveVerifyMode()
	if err != nil {
		return "", err
	}
	if _, err := parseTTL(c.CacheTTL); err != nil {
		return "", err
	}
	return verifyMode, nil
}

// openState opens (or creates) the state directory and its ledger, which
// holds the state lock from here on.
func (r *jobRun) openState(ctx context.Context) error {
	r.state = r.c.defaultState()
	fi, statErr := os.Stat(r.state)
	if statErr == nil && !fi.IsDir() {
		return usagef("state %s is a file, not a directory: give --state a directory", r.state)
	}
	r.created = errors.Is(statErr, os.ErrNotExist)
	ledger, err := checkpoint.Open(ctx, r.state)
	if err != nil {
		if errors.Is(err, checkpoint.ErrLocked) {
			return usagef("%w", err)
		}
		if r.created {
			os.RemoveAll(r.state)
		}
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return fmt.Errorf("open state %s: %w\nbatch: nothing was changed; the state cannot be trusted, so the job will not restart from row 0 by itself: restore %s from a backup, or delete it (or use another --state) to start over", r.state, err, r.state)
		}
		return fmt.Errorf("open state %s: %w", r.state, err)
	}
	r.ledger = ledger
	r.onClose(func() {
		ledger.Close()
		if r.discard {
			r.removeFailedStart()
		}
	})
	return nil
}

// removeFailedStart removes the state directory of a failed start and
// only the partial files this run created: another job's (refused by the
// output lock) stay.
func (r *jobRun) removeFailedStart() {
	c := r.c
	if r.ownOutput && isLocalFile(c.Output) {
		os.Remove(c.Output + ".partial")
	}
	if r.ownRejects {
		os.Remove(c.rejectsPath(r.state) + ".partial")
	}
	if rerr := os.RemoveAll(r.state); rerr != nil {
		r.e.log.Warn("remove state of a failed start", "state", r.state, "err", rerr)
	}
	if c.State == "" && !isLocalFile(c.Output) {
		os.Remove(filepath.Dir(r.state)) // .batch-state, if no other job uses it
	}
}

// identify fingerprints the input, settles its dialect and derives the
// job's identity from both and the options; then it records the run as
// running, for `batch status`.
func (r *jobRun) identify(ctx context.Context) error {
	if err := r.readInputHead(ctx); err != nil {
		return err
	}
	c := r.c
	opts := c.options(r.verifyMode)
	// The shards of one job share its output table and budget: the job id
	// they share leaves the shard out (and names the output as given, with
	// {shard}), the ledger's identity keeps it.
	jobOpts := opts
	jobOpts.Output = c.outputPattern
	sinkOpts, _ := json.Marshal(jobOpts)
	opts.Shard = r.shard.String()
	r.optJSON, _ = json.Marshal(opts)
	r.identity = jobIdentity(r.fp, r.optJSON)
	r.sinkJobID = jobIdentity(r.fp, sinkOpts)
	// The lock is held from here: say who holds it and since when, for
	// `batch status` (the recorder keeps the record fresh once running).
	running := filepath.Join(r.state, runningFile)
	writeJSONAtomic(running, newRunRecord(r.identity, r.e.args, time.Now()))
	r.onClose(func() { os.Remove(running) })
	return nil
}

// readInputHead fingerprints the input and settles the dialect it is read
// in: the stored one on a resume, else detected from its head.
func (r *jobRun) readInputHead(ctx context.Context) error {
	c := r.c
	in, closeIn, err := openStream(ctx, c.Input, r.e.Stdin) // a named pipe is opened once
	if err != nil {
		return err
	}
	r.onClose(closeIn)
	fp, stdin, err := fingerprint(ctx, c.Input, in)
	if err != nil {
		if isUsage(err) || errors.Is(err, pipeline.ErrStopped) {
			return err // a usage error, or the input's storage is down: a resumable stop
		}
		if inputMissing(err) {
			return usagef("input %s: %w", c.Input, err)
		}
		return fmt.Errorf("input %s: %w", c.Input, err)
	}
	r.fp = fp
	force, err := c.forcedDialect()
	if err != nil {
		return err
	}
	if d, ok := storedDialect(ctx, r.ledger, fp, force); ok {
		c.dialect = d // a resume reads the input as its first run did, without a GET of its head
	} else if c.dialect, stdin, err = detectDialect(ctx, c.Input, stdin, force); err != nil {
		return err
	}
	r.stdin = stdin
	logDialect(r.e, c.dialect)
	return nil
}

// resume reads where the job goes on from (see resumePoint); done reports
// a finished job with nothing to retry.
func (r *jobRun) resume(ctx context.Context) (done bool, err error) {
	r.job, r.progress, r.rowsTotal, done, err = r.c.resumePoint(ctx, r.e, r.ledger, r.state, r.identity, r.fp)
	return done, err
}

// lockOutput ties the output to the job until the run ends; the lock is
// given up when the job finished or its start failed.
func (r *jobRun) lockOutput(ctx context.Context) error {
	olock, err := lockOutput(ctx, r.c.Output, r.state)
	if err != nil {
		return err
	}
	if olock != nil {
		r.onClose(func() { olock.Release(r.finished || r.discard) })
	}
	return nil
}

// openInput opens the input at the resume cursor, checks that it holds the
// columns the stages need, and starts a fresh job in the ledger.
func (r *jobRun) openInput(ctx context.Context) error {
	c := r.c
	var header []string
	if r.job != nil {
		header = r.job.Header
	}
	src, err := c.openInput(ctx, r.stdin, c.dialect, r.progress.Cursor, header)
	if err != nil {
		return err
	}
	r.src = src
	r.onClose(func() { src.Close() })
	if err := checkStages(&c.JobFlags, src.Header(), src.Mapping()); err != nil {
		return err
	}
	if !r.e.quiet {
		noteLocalOnly(r.e.Stderr, &c.JobFlags)
	}
	r.fresh = r.job == nil
	if r.fresh {
		r.job = &checkpoint.Job{Identity: r.identity, Input: c.Input, Fingerprint: r.fp, Options: r.optJSON, Header: src.Header(), CreatedAt: time.Now().UTC()}
		if err := r.ledger.Start(ctx, *r.job); err != nil {
			return fmt.Errorf("start job: %w", err)
		}
	}
	return nil
}

// openOutputs opens the output and the rejects file at the committed
// positions, and the cache unless --no-cache.
func (r *jobRun) openOutputs(ctx context.Context) error {
	c := r.c
	schema := pipeline.ResultSchema(r.src.Header(), c.stages())
	sink, err := openSink(ctx, c, r.state, r.sinkJobID, schema, pipeline.Position(r.progress.SinkPos))
	if err != nil {
		return err
	}
	r.sink, r.ownOutput = sink, true
	r.onClose(func() { sink.Release() }) // a no-op once the run published it
	rejects, err := openRejects(c.rejectsPath(r.state), pipeline.Position(r.progress.RejectPos))
	if err != nil {
		return err
	}
	r.rejects, r.ownRejects = rejects, true
	r.onClose(func() { rejects.Release() })
	if c.NoCache {
		return nil
	}
	cc, err := openCache(ctx, &c.JobFlags, true)
	if err != nil {
		return err
	}
	r.onClose(func() { cc.Close() })
	r.cache = cc.ForRun(cacheScope(&c.JobFlags, r.tenant))
	return nil
}

// newRunner builds the API client and the pipeline runner over what the
// earlier steps opened, with the shared budget when the cache is shared.
func (r *jobRun) newRunner(ctx context.Context) (*pipeline.Runner, error) {
	c := r.c
	pacer := pace.New(shardRate(c.Rate, r.shard))
	paceMem := paceMemoryPath(c.APIURL, r.key, r.shard)
	recallPace(pacer, paceMem, time.Now(), r.e.log)
	r.onClose(func() { rememberPace(pacer, paceMem, time.Now(), r.e.log) })
	r.client = customeros.New(c.APIURL, r.key)
	r.outcomes = &outcomeCounter{next: pacer}
	r.client.Pacer = r.outcomes
	r.client.ReturnThrottled = true // the runner reschedules 429s without holding a worker
	r.client.Logger = r.e.log
	r.client.AttemptTimeout = c.AttemptTimeout

	r.commits = make(chan struct{}, 1)
	r.domains = loadDomains(r.state, r.progress.Seq)
	cfg := r.config()
	r.client.Answers = cfg.Breaker // answers that keep coming broken stop the run
	if c.MaxCalls > 0 && !c.NoCache && isPostgres(c.Cache) {
		// With a shared cache, --max-calls is the whole job's budget,
		// shared by its shards and runs.
		b, err := checkpoint.OpenPGBudget(ctx, c.Cache, r.sinkJobID, c.MaxCalls)
		if err != nil {
			if stop := serviceError("shared budget "+redact.URL(c.Cache), err); stop != nil {
				return nil, stop
			}
			return nil, fmt.Errorf("open shared budget: %w", err)
		}
		r.onClose(func() { b.Close() })
		cfg.BudgetPool = b
	}
	return pipeline.New(cfg)
}

// config is the pipeline's configuration for this run.
func (r *jobRun) config() pipeline.Config {
	c, p := r.c, r.progress
	cfg := pipeline.Config{
		Source: r.src, Sink: r.domains.wrap(r.sink), Rejects: r.rejects,
		Ledger: commitHook{r.ledger, r.commits}, Cache: r.cache, SharedCache: r.cache != nil && isPostgres(c.Cache),
		API: r.client, Checker: contact.NewChecker(),
		Stages: c.stages(), IncludeMobile: c.IncludeMobile, SendInvalid: c.SendInvalid,
		Refresh: c.Refresh, VerifyMode: pipeline.VerifyMode(r.verifyMode), BulkSize: c.BulkSize,
		Workers: c.Workers, MaxCalls: c.MaxCalls, AsyncTimeout: c.AsyncTimeout,
		Fresh:  r.fresh,
		Nested: wantsNested(c.Output),
		Shard:  r.shard,
		Resume: pipeline.Progress{
			Seq: p.Seq, Cursor: p.Cursor,
			SinkPos: pipeline.Position(p.SinkPos), RejectPos: pipeline.Position(p.RejectPos),
			Counters: p.Counters,
		},
		Breaker: &customeros.Breaker{URL: redact.URL(c.APIURL)},
		Logger:  r.e.log,
	}
	if c.CheckMX {
		cfg.MX = contact.NewMXChecker()
	}
	return cfg
}

// watchers are what follow a run while it goes: the probe the progress
// display and the recorder read, the recorder of the run's history, and the
// display.
type watchers struct {
	probe   *probe
	rec     *recorder
	display display
}

// watch starts the recorder (with the metrics file and endpoint) and the
// progress display over runner.
func (r *jobRun) watch(ctx context.Context, runner *pipeline.Runner) (*watchers, error) {
	c, e := r.c, r.e
	probe := newProbe(runner, r.client.Stats, r.src, r.progress.Seq, r.rowsTotal, c.MaxCalls)
	rec := newRecorder(r.state, r.identity, e.args, probe, r.outcomes, r.commits)
	if prev, _ := loadRuns(r.state, r.identity); len(prev) > 0 {
		for _, run := range prev {
			if run.Status == "finished" && run.EndedAt != nil {
				rec.lastSuccess = *run.EndedAt
			}
		}
	}
	recTick := time.NewTicker(time.Second)
	r.onClose(recTick.Stop)
	if err := r.publishMetrics(ctx, rec); err != nil {
		return nil, err
	}
	rec.start(recTick.C)
	mode := c.Progress
	if e.json && mode != "none" {
		mode = "log" // a terminal line is not JSON
	}
	return &watchers{probe: probe, rec: rec, display: startProgress(e, mode, probe)}, nil
}

// publishMetrics writes the metrics file at each commit and serves the
// metrics endpoint until the run ends, as the flags ask.
func (r *jobRun) publishMetrics(ctx context.Context, rec *recorder) error {
	c, e := r.c, r.e
	if c.MetricsFile == "" && c.MetricsAddr == "" {
		return nil
	}
	pub := metrics.New(rec.metricValues)
	if c.MetricsFile != "" {
		write := func() {
			if err := pub.WriteFile(c.MetricsFile); err != nil {
				e.log.Warn("write metrics", "err", err)
			}
		}
		rec.onCommit = append(rec.onCommit, write)
	}
	if c.MetricsAddr != "" {
		addr, stop, err := pub.Serve(ctx, c.MetricsAddr)
		if err != nil {
			return usagef("--metrics-addr %s: %w", c.MetricsAddr, err)
		}
		r.onClose(stop)
		e.log.Info("metrics listening", "url", "http://"+addr+"/metrics")
	}
	return nil
}

// report ends the run's display and history, writes report.json and the
// summary, and returns the run's exit error: runErr, or a retryableError
// when the job finished with retryable rows.
func (r *jobRun) report(w *watchers, sum pipeline.Summary, runErr error) error {
	c, e := r.c, r.e
	rep := newReport(c, r.state, sum, r.client.Stats(), runErr)
	w.display.stop(w.probe.final(rep.Status, sum))
	runs, err := w.rec.finish(rep.Status, rep.Error, w.probe.finalState(rep.Status, sum))
	if err != nil {
		e.log.Warn("write run history", "err", err)
	}
	rep.addJob(r.job, c.stages(), c.rejectsPath(r.state), sum, runs)
	c.writeReports(e, r.state, rep, r.domains)
	switch {
	case e.json:
		rep.log(e.log)
	case !e.quiet:
		rep.print(e.Stderr)
	}
	if runErr == nil {
		if n := pipeline.RetryableRows(sum.Counters); n > 0 {
			return &retryableError{errors: sum.Counters[counter.Rows.Of(pipeline.RowFailed)], pending: sum.Counters[counter.Rows.Of(pipeline.RowPending)]}
		}
		r.finished = true
	}
	return runErr
}

// resumePoint reads the job the state holds and where to go on from: nil
// and zero progress for a fresh job (after discarding another job's state
// with --restart), the committed progress for a resume, and fresh progress
// with the counters to recount for a retry pass over a finished job with
// retryable rows, with the finished job's row count as total (0 when the
// total is not known). done reports a finished job with nothing to retry.
func (c *RunCmd) resumePoint(ctx context.Context, e *env, ledger *checkpoint.Ledger, state, identity, fp string) (job *checkpoint.Job, progress pipeline.Progress, total int64, done bool, err error) {
	job, err = ledger.Job(ctx)
	switch {
	case errors.Is(err, checkpoint.ErrNoJob):
		job = nil
	case err != nil:
		return nil, progress, 0, false, fmt.Errorf("read state %s: %w", state, err)
	}
	if job != nil && (job.Identity != identity || c.Restart) {
		if !c.Restart {
			why := "its options changed"
			if job.Fingerprint != fp {
				why = "the input changed"
			}
			return nil, progress, 0, false, usagef("state %s belongs to another job (%s since it started); rerun with --restart to discard it and start over, or use another --state", state, why)
		}
		e.log.Info("restart: discarding the job's earlier state", "state", state)
		if err := ledger.Reset(ctx); err != nil {
			return nil, progress, 0, false, fmt.Errorf("reset state: %w", err)
		}
		removePartials(c.Output, c.rejectsPath(state))
		os.Remove(filepath.Join(state, runsFile)) // the history belongs to the discarded job
		job = nil
	}
	if job != nil {
		progress, err = ledger.Progress(ctx)
		if err != nil {
			return nil, progress, 0, false, fmt.Errorf("read progress: %w", err)
		}
		if progress.Finished {
			n := pipeline.RetryableRows(progress.Counters)
			if n == 0 {
				fmt.Fprintf(e.Stderr, "batch: job already finished (%d rows); nothing to do. Use --restart to run it again.\n", progress.Seq)
				return job, progress, 0, true, nil
			}
			// A retry pass: every row again from the first, answers from the
			// ledger, calls only for the retryable lookups, the output
			// rewritten (files republished atomically, databases upserted).
			fmt.Fprintf(e.Stderr, "batch: job finished with %d retryable rows (error or pending); retrying them\n", n)
			total = progress.Seq // every row is read again: the total is known
			progress = pipeline.Progress{Counters: pipeline.RetryCounters(progress.Counters)}
		} else {
			e.log.Info("resuming", "rows_done", progress.Seq, "state", state)
		}
	}
	return job, progress, total, false, nil
}

// retryableError reports a job that finished with retryable rows (exit 4).
type retryableError struct{ errors, pending int64 }

func (e *retryableError) Error() string {
	return fmt.Sprintf("finished, but %d rows are retryable (%d error, %d pending); run the same command again to retry only those (answers already paid for are reused)",
		e.errors+e.pending, e.errors, e.pending)
}

// storedDialect returns the dialect the job in ledger stored, when it is a
// job over the same input (fingerprint fp), with the forced fields put in
// (a forced field that differs makes the options differ: the job is
// refused as changed).
func storedDialect(ctx context.Context, ledger *checkpoint.Ledger, fp string, force csvsource.Dialect) (csvsource.Dialect, bool) {
	job, err := ledger.Job(ctx)
	if err != nil || job.Fingerprint != fp {
		return csvsource.Dialect{}, false
	}
	var o jobOptions
	if json.Unmarshal(job.Options, &o) != nil || !o.Dialect.Resolved() {
		return csvsource.Dialect{}, false
	}
	d := o.Dialect
	if force.Delimiter != 0 {
		d.Delimiter = force.Delimiter
	}
	if force.Encoding != "" {
		if fd, err := csvsource.Detect(nil, csvsource.Dialect{Encoding: force.Encoding}); err == nil {
			d.Encoding = fd.Encoding
		}
	}
	return d, true
}

// logDialect prints how the input is read, and a warning when its
// encoding was a guess.
func logDialect(e *env, d csvsource.Dialect) {
	if d == (csvsource.Dialect{}) {
		e.log.Info("input format: xlsx workbook")
		return
	}
	e.log.Info("input format: " + d.String())
	if d.Note != "" {
		e.log.Warn(d.Note)
	}
}

// wantsNested reports whether the output keeps the structured API results
// (JSONL and databases do, CSV does not).
func wantsNested(out string) bool {
	if isDatabase(out) {
		return true
	}
	path := strings.ToLower(s3KeyPath(out))
	return strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".ndjson")
}

func (c *RunCmd) reportPath(state string) string {
	if c.Report != "" {
		return c.Report
	}
	return filepath.Join(state, "report.json")
}

func (j *JobFlags) resolveVerifyMode() (string, error) {
	switch j.VerifyMode {
	case "single", "bulk":
		return j.VerifyMode, nil
	}
	// auto: bulk for large local inputs.
	if fi, err := os.Stat(j.Input); err == nil && fi.Size() >= j.BulkThreshold {
		return "bulk", nil
	}
	return "single", nil
}

func jobIdentity(fingerprint string, options []byte) string {
	h := sha256.New()
	h.Write([]byte(fingerprint))
	h.Write([]byte{0})
	h.Write(options)
	return hex.EncodeToString(h.Sum(nil))
}

// removePartials deletes a discarded job's unfinished output files.
func removePartials(output, rejects string) {
	if isLocalFile(output) {
		os.Remove(output + ".partial")
	}
	os.Remove(rejects + ".partial")
}
