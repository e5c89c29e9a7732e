package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/internal/metrics"
	"github.com/contactbatch/batch/internal/redact"
	"github.com/contactbatch/batch/internal/runview"
	"github.com/contactbatch/batch/pipeline"
)

// outcomeCounter counts every HTTP attempt by endpoint and outcome as the
// client reports it to its pacer, then passes the report on.
type outcomeCounter struct {
	next customeros.Pacer // may be nil
	mu   sync.Mutex
	n    map[[2]string]int64
}

// Attempt outcomes, as batch_api_calls_total labels them.
const (
	outcomeOK        = "ok"
	outcomeThrottled = "throttled"
	outcomeClient    = "client_error"
	outcomeServer    = "server_error"
	outcomeTransport = "transport_error"
)

func outcomeOf(o customeros.Outcome) string {
	switch s := o.Status; {
	case s == 0:
		return outcomeTransport
	case s == 429:
		return outcomeThrottled
	case s >= 500:
		return outcomeServer
	case s >= 400:
		return outcomeClient
	}
	return outcomeOK
}

// Wait passes on to the wrapped pacer.
func (c *outcomeCounter) Wait(ctx context.Context, ep customeros.Endpoint) error {
	if c.next == nil {
		return nil
	}
	return c.next.Wait(ctx, ep)
}

// Observe counts the attempt and passes the report on.
func (c *outcomeCounter) Observe(ep customeros.Endpoint, o customeros.Outcome) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[[2]string]int64{}
	}
	c.n[[2]string{string(ep), outcomeOf(o)}]++
	c.mu.Unlock()
	if c.next != nil {
		c.next.Observe(ep, o)
	}
}

// counts returns the attempts by endpoint and outcome.
func (c *outcomeCounter) counts() map[[2]string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[[2]string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// recorder keeps the record of the run in progress: a timeline sample and
// a fresh running.json every tick, and at each commit (and at the end) the
// hooks that publish figures (the metrics file).
type recorder struct {
	dir      string
	probe    *probe
	outcomes *outcomeCounter
	onCommit []func()

	mu          sync.Mutex
	rec         runRecord
	lastSuccess time.Time // when a run of the job last finished

	commits <-chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

// commitHook tells commits (without blocking) after each durable commit.
type commitHook struct {
	pipeline.Ledger
	commits chan<- struct{}
}

// Commit commits through the ledger, then signals.
func (h commitHook) Commit(ctx context.Context, p pipeline.Progress) error {
	err := h.Ledger.Commit(ctx, p)
	if err == nil {
		select {
		case h.commits <- struct{}{}:
		default:
		}
	}
	return err
}

func newRecorder(dir, job string, args []string, p *probe, oc *outcomeCounter, commits <-chan struct{}) *recorder {
	rec := newRunRecord(job, args, p.start)
	rec.RowsAtStart, rec.RowsTotal, rec.MaxCalls = p.startRows, p.rowsTotal, p.maxCalls
	return &recorder{dir: dir, probe: p, outcomes: oc, rec: rec, commits: commits, done: make(chan struct{})}
}

// newRunRecord starts the record of this process's run of job.
func newRunRecord(job string, args []string, start time.Time) runRecord {
	cmd := make([]string, len(args))
	for i, a := range args {
		cmd[i] = redact.URL(a)
	}
	return runRecord{Job: job, PID: os.Getpid(), Command: cmd, StartedAt: start.UTC(), UpdatedAt: start.UTC(), Status: "running"}
}

// start records the run as running and refreshes it at every tick.
func (r *recorder) start(tick <-chan time.Time) {
	r.refresh(r.probe.figuresState())
	r.writeRunning()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-tick:
				r.refresh(r.probe.figuresState())
				r.writeRunning()
			case <-r.commits:
				for _, f := range r.onCommit {
					f()
				}
			case <-r.done:
				return
			}
		}
	}()
}

// refresh updates the record from the current figures.
func (r *recorder) refresh(fs figureState) {
	f := fs.f
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec.UpdatedAt = r.probe.now().UTC()
	r.rec.DurationS = f.Elapsed.Seconds()
	r.rec.RowsDone, r.rec.RowsRead = f.RunRows, fs.read
	r.rec.Calls, r.rec.Paid, r.rec.HTTP429 = f.RunCalls, f.RunPaid, f.Run429
	r.rec.PaidBy, r.rec.Retries = fs.paid, fs.stats.Retries
	r.rec.HTTPAttempts = map[string]int64{}
	for ep, n := range fs.stats.Attempts {
		r.rec.HTTPAttempts[string(ep)] = n
	}
	r.rec.Outcomes = map[string]int64{}
	for k, n := range r.outcomes.counts() {
		r.rec.Outcomes[k[0]+"/"+k[1]] = n
	}
	r.rec.Percent, r.rec.ETAS = nil, nil
	if p := f.Percent(); p >= 0 {
		r.rec.Percent = &p
	}
	if eta, ok := f.ETA(); ok {
		s := int64(eta.Seconds())
		r.rec.ETAS = &s
	}
	r.rec.addSample(sample{T: roundS(f.Elapsed), Rows: f.RunRows, Calls: f.RunCalls, Paid: f.RunPaid, HTTP429: f.Run429})
}

func roundS(d time.Duration) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(d.Seconds(), 'f', 1, 64), 64)
	return v
}

func (r *recorder) writeRunning() {
	r.mu.Lock()
	rec := r.rec
	rec.Timeline = nil // status does not need it; the ended record keeps it
	r.mu.Unlock()
	writeJSONAtomic(filepath.Join(r.dir, runningFile), rec)
}

// finish stops the ticks and returns the ended run's record, appended to
// the job's history (all runs so far, this one last).
func (r *recorder) finish(status, errText string, final figureState) ([]runRecord, error) {
	close(r.done)
	r.wg.Wait()
	r.refresh(final)
	r.mu.Lock()
	end := r.probe.now().UTC()
	r.rec.EndedAt, r.rec.Status, r.rec.Error = &end, status, errText
	r.rec.UpdatedAt = end
	r.rec.ETAS = nil // Percent stays: where the run ended
	if status == "finished" {
		r.lastSuccess = end
	}
	rec := r.rec
	r.mu.Unlock()
	for _, f := range r.onCommit {
		f()
	}
	runs, err := appendRun(r.dir, rec)
	os.Remove(filepath.Join(r.dir, runningFile))
	return runs, err
}

// figureState is the display figures plus what the record keeps beside
// them.
type figureState struct {
	f     runview.Figures
	read  int64
	paid  map[string]int64
	stats customeros.Stats
}

// metricValues are the figures the metrics publish (see internal/metrics).
func (r *recorder) metricValues() metrics.Values {
	s := r.probe.runner.Snapshot()
	rows := countRows(s.Counters, s.Committed)
	v := metrics.Values{RowsByState: rows.ByState, Calls: r.outcomes.counts(),
		Paid: paidInAll(s.Counters), HTTP429: r.probe.stats().Throttled}
	v.RowsByState["rejected"] = rows.Rejected
	r.mu.Lock()
	v.LastSuccess = r.lastSuccess
	r.mu.Unlock()
	return v
}
