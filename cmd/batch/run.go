package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/contactbatch/batch/pipeline"
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

// run runs the job. Everything that can refuse it (flags, input, columns,
// the output target) is checked before the first paid call, and a start
// that fails leaves no state directory behind when it created one.
func (c *RunCmd) run(ctx context.Context, e *env) (err error) {
	if c.Output == "" {
		return usagef("--output is required")
	}
	shardSpec, err := c.spec(e.Getenv)
	if err != nil {
		return err
	}
	if err := c.applyShard(shardSpec); err != nil {
		return err
	}
	if err := c.checkAPIURL(e); err != nil {
		return err
	}
	keys, err := c.apiKeys(e.Getenv)
	if err != nil {
		return err
	}
	key, tenant := pickKey(keys, shardSpec)
	e.secrets.setSecret(key)
	if c.anyStage() && key == "" {
		return usagef("no API key: set CUSTOMEROS_API_KEY or --api-key-file")
	}
	if c.AttemptTimeout <= 0 {
		return usagef("--attempt-timeout must be positive")
	}
	if c.Workers < 1 {
		return usagef("--workers must be at least 1")
	}
	verifyMode, err := c.resolveVerifyMode()
	if err != nil {
		return err
	}
	if _, err := parseTTL(c.CacheTTL); err != nil {
		return err
	}
	state := c.defaultState()
	fi, statErr := os.Stat(state)
	if statErr == nil && !fi.IsDir() {
		return usagef("state %s is a file, not a directory: give --state a directory", state)
	}
	created := errors.Is(statErr, os.ErrNotExist)
	// started is set once the run may pay: before that, a failed start
	// removes the state directory it created (and the job's partial files).
	started, ownOutput, ownRejects := false, false, false
	discard := func() bool { return err != nil && !started && created }
	ledger, err := checkpoint.Open(ctx, state)
	if err != nil {
		if errors.Is(err, checkpoint.ErrLocked) {
			return usagef("%w", err)
		}
		if created {
			os.RemoveAll(state)
		}
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return fmt.Errorf("open state %s: %w\nbatch: nothing was changed; the state cannot be trusted, so the job will not restart from row 0 by itself: restore %s from a backup, or delete it (or use another --state) to start over", state, err, state)
		}
		return fmt.Errorf("open state %s: %w", state, err)
	}
	defer func() {
		ledger.Close()
		if discard() {
			// Only the partial files this run created: another job's
			// (refused by the output lock) stay.
			if ownOutput && isLocalFile(c.Output) {
				os.Remove(c.Output + ".partial")
			}
			if ownRejects {
				os.Remove(c.rejectsPath(state) + ".partial")
			}
			if rerr := os.RemoveAll(state); rerr != nil {
				e.log.Warn("remove state of a failed start", "state", state, "err", rerr)
			}
			if c.State == "" && !isLocalFile(c.Output) {
				os.Remove(filepath.Dir(state)) // .batch-state, if no other job uses it
			}
		}
	}()

	fp, stdin, err := fingerprint(ctx, c.Input, e.Stdin)
	if err != nil {
		if isUsage(err) || errors.Is(err, pipeline.ErrStopped) {
			return err // a usage error, or the input's storage is down: a resumable stop
		}
		if inputMissing(err) {
			return usagef("input %s: %w", c.Input, err)
		}
		return fmt.Errorf("input %s: %w", c.Input, err)
	}
	force, err := c.forcedDialect()
	if err != nil {
		return err
	}
	if d, ok := storedDialect(ctx, ledger, fp, force); ok {
		c.dialect = d // a resume reads the input as its first run did, without a GET of its head
	} else if c.dialect, stdin, err = detectDialect(ctx, c.Input, stdin, force); err != nil {
		return err
	}
	logDialect(e, c.dialect)
	opts := c.options(verifyMode)
	// The shards of one job share its output table and budget: the job id
	// they share leaves the shard out (and names the output as given, with
	// {shard}), the ledger's identity keeps it.
	jobOpts := opts
	jobOpts.Output = c.outputPattern
	sinkOpts, _ := json.Marshal(jobOpts)
	opts.Shard = shardSpec.String()
	optJSON, _ := json.Marshal(opts)
	identity := jobIdentity(fp, optJSON)
	sinkJobID := jobIdentity(fp, sinkOpts)
	// The lock is held from here: say who holds it and since when, for
	// `batch status` (the recorder keeps the record fresh once running).
	writeJSONAtomic(filepath.Join(state, runningFile), newRunRecord(identity, e.args, time.Now()))
	defer os.Remove(filepath.Join(state, runningFile))

	job, progress, done, err := c.resumePoint(ctx, e, ledger, state, identity, fp)
	if err != nil || done {
		return err
	}

	olock, err := lockOutput(ctx, c.Output, state)
	if err != nil {
		return err
	}
	finished := false
	if olock != nil {
		defer func() { olock.Release(finished || discard()) }()
	}

	checker := contact.NewChecker()
	var header []string
	if job != nil {
		header = job.Header
	}
	src, err := c.openInput(ctx, stdin, c.dialect, progress.Cursor, header)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := checkStages(&c.JobFlags, src.Header(), src.Mapping()); err != nil {
		return err
	}
	if !e.quiet {
		noteLocalOnly(e.Stderr, &c.JobFlags)
	}
	fresh := job == nil
	if job == nil {
		job = &checkpoint.Job{Identity: identity, Input: c.Input, Fingerprint: fp, Options: optJSON, Header: src.Header(), CreatedAt: time.Now().UTC()}
		if err := ledger.Start(ctx, *job); err != nil {
			return fmt.Errorf("start job: %w", err)
		}
	}

	stages := c.stages()
	schema := pipeline.ResultSchema(src.Header(), stages)
	sink, err := openSink(ctx, c, state, sinkJobID, schema, pipeline.Position(progress.SinkPos))
	if err != nil {
		return err
	}
	ownOutput = true
	defer sink.Release() // a no-op once the run published it
	rejects, err := openRejects(c.rejectsPath(state), pipeline.Position(progress.RejectPos))
	if err != nil {
		return err
	}
	ownRejects = true
	defer rejects.Release()

	var cache pipeline.Cache
	if !c.NoCache {
		cc, err := openCache(ctx, &c.JobFlags, true)
		if err != nil {
			return err
		}
		defer cc.Close()
		cache = cc.ForRun(cacheScope(&c.JobFlags, tenant))
	}

	pacer := pace.New(shardRate(c.Rate, shardSpec))
	client := customeros.New(c.APIURL, key)
	outcomes := &outcomeCounter{next: pacer}
	client.Pacer = outcomes
	client.ReturnThrottled = true // the runner reschedules 429s without holding a worker
	client.Logger = e.log
	client.AttemptTimeout = c.AttemptTimeout

	commits := make(chan struct{}, 1) // a commit happened: the recorder publishes figures
	cfg := pipeline.Config{
		Source: src, Sink: sink, Rejects: rejects,
		Ledger: commitHook{ledger, commits}, Cache: cache, API: client, Checker: checker,
		Stages: stages, IncludeMobile: c.IncludeMobile, SendInvalid: c.SendInvalid,
		Refresh: c.Refresh, VerifyMode: pipeline.VerifyMode(verifyMode), BulkSize: c.BulkSize,
		Workers: c.Workers, MaxCalls: c.MaxCalls, AsyncTimeout: c.AsyncTimeout,
		Fresh:  fresh,
		Nested: wantsNested(c.Output),
		Shard:  shardSpec,
		Resume: pipeline.Progress{
			Seq: progress.Seq, Cursor: progress.Cursor,
			SinkPos: pipeline.Position(progress.SinkPos), RejectPos: pipeline.Position(progress.RejectPos),
			Counters: progress.Counters,
		},
		Breaker: &customeros.Breaker{URL: redact.URL(c.APIURL)},
		Logger:  e.log,
	}
	if c.CheckMX {
		cfg.MX = contact.NewMXChecker()
	}
	if c.MaxCalls > 0 && !c.NoCache && isPostgres(c.Cache) {
		// With a shared cache, --max-calls is the whole job's budget,
		// shared by its shards and runs.
		b, err := checkpoint.OpenPGBudget(ctx, c.Cache, sinkJobID, c.MaxCalls)
		if err != nil {
			return fmt.Errorf("open shared budget: %w", err)
		}
		defer b.Close()
		cfg.BudgetPool = b
	}
	runner, err := pipeline.New(cfg)
	if err != nil {
		return err
	}
	started = true
	probe := newProbe(runner, client.Stats, src, progress.Seq, 0, c.MaxCalls)
	mode := c.Progress
	if e.json && mode != "none" {
		mode = "log" // a terminal line is not JSON
	}
	rec := newRecorder(state, identity, e.args, probe, outcomes, commits)
	if prev, _ := loadRuns(state, identity); len(prev) > 0 {
		for _, r := range prev {
			if r.Status == "finished" && r.EndedAt != nil {
				rec.lastSuccess = *r.EndedAt
			}
		}
	}
	recTick := time.NewTicker(time.Second)
	defer recTick.Stop()
	if c.MetricsFile != "" || c.MetricsAddr != "" {
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
			defer stop()
			e.log.Info("metrics listening", "url", "http://"+addr+"/metrics")
		}
	}
	rec.start(recTick.C)
	display := startProgress(e, mode, probe)
	sum, runErr := runner.Run(ctx)
	rep := newReport(c, state, sum, client.Stats(), runErr)
	display.stop(probe.final(rep.Status, sum))
	runs, err := rec.finish(rep.Status, rep.Error, probe.finalState(rep.Status, sum))
	if err != nil {
		e.log.Warn("write run history", "err", err)
	}
	rep.addJob(job, stages, c.rejectsPath(state), sum, runs)
	if err := rep.write(c.reportPath(state)); err != nil {
		e.log.Warn("write report", "err", err)
	}
	switch {
	case e.json:
		rep.log(e.log)
	case !e.quiet:
		rep.print(e.Stderr)
	}
	if runErr == nil {
		if n := pipeline.RetryableRows(sum.Counters); n > 0 {
			return &retryableError{errors: sum.Counters["rows_"+pipeline.RowFailed], pending: sum.Counters["rows_"+pipeline.RowPending]}
		}
		finished = true // the output is no longer this job's alone
	}
	return runErr
}

// resumePoint reads the job the state holds and where to go on from: nil
// and zero progress for a fresh job (after discarding another job's state
// with --restart), the committed progress for a resume, and fresh progress
// with the counters to recount for a retry pass over a finished job with
// retryable rows. done reports a finished job with nothing to retry.
func (c *RunCmd) resumePoint(ctx context.Context, e *env, ledger *checkpoint.Ledger, state, identity, fp string) (job *checkpoint.Job, progress pipeline.Progress, done bool, err error) {
	job, err = ledger.Job(ctx)
	switch {
	case errors.Is(err, checkpoint.ErrNoJob):
		job = nil
	case err != nil:
		return nil, progress, false, fmt.Errorf("read state %s: %w", state, err)
	}
	if job != nil && (job.Identity != identity || c.Restart) {
		if !c.Restart {
			why := "its options changed"
			if job.Fingerprint != fp {
				why = "the input changed"
			}
			return nil, progress, false, usagef("state %s belongs to another job (%s since it started); rerun with --restart to discard it and start over, or use another --state", state, why)
		}
		e.log.Info("restart: discarding the job's earlier state", "state", state)
		if err := ledger.Reset(ctx); err != nil {
			return nil, progress, false, fmt.Errorf("reset state: %w", err)
		}
		removePartials(c.Output, c.rejectsPath(state))
		os.Remove(filepath.Join(state, runsFile)) // the history belongs to the discarded job
		job = nil
	}
	if job != nil {
		progress, err = ledger.Progress(ctx)
		if err != nil {
			return nil, progress, false, fmt.Errorf("read progress: %w", err)
		}
		if progress.Finished {
			n := pipeline.RetryableRows(progress.Counters)
			if n == 0 {
				fmt.Fprintf(e.Stderr, "batch: job already finished (%d rows); nothing to do. Use --restart to run it again.\n", progress.Seq)
				return job, progress, true, nil
			}
			// A retry pass: every row again from the first, answers from the
			// ledger, calls only for the retryable lookups, the output
			// rewritten (files republished atomically, databases upserted).
			fmt.Fprintf(e.Stderr, "batch: job finished with %d retryable rows (error or pending); retrying them\n", n)
			progress = pipeline.Progress{Counters: pipeline.RetryCounters(progress.Counters)}
		} else {
			e.log.Info("resuming", "rows_done", progress.Seq, "state", state)
		}
	}
	return job, progress, false, nil
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
