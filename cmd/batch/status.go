package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
)

// statusView is what `batch status` prints. PaidCalls are the calls billed
// over all runs (the contract's billing rules, as the run summary counts).
type statusView struct {
	State     string                      `json:"state"`
	Job       string                      `json:"job"` // starting, running, stopped, finished, not started
	Running   *runningView                `json:"running,omitempty"`
	Input     string                      `json:"input"`
	Started   time.Time                   `json:"started"`
	Updated   time.Time                   `json:"updated"`
	Finished  bool                        `json:"finished"`
	RowsDone  int64                       `json:"rows_done"`
	RowsTotal int64                       `json:"rows_total,omitempty"` // known once the input was read to the end
	Percent   *int                        `json:"percent,omitempty"`
	ETAS      *int64                      `json:"eta_s,omitempty"` // while running
	Rows      rowCounts                   `json:"rows"`
	PaidCalls int64                       `json:"paid_calls"`
	PaidBy    map[string]int64            `json:"paid_by_endpoint"`
	Pending   map[string]int64            `json:"pending_polls_by_kind"`
	Handles   int64                       `json:"pending_handles"`
	LastError string                      `json:"last_error,omitempty"`
	Resume    string                      `json:"resume_command,omitempty"`
	Runs      int                         `json:"runs"`
	Counters  map[counter.Name]int64      `json:"counters"`
	Results   map[string]map[string]int64 `json:"results_by_kind_status"`
}

// runningView is the process holding the job's lock.
type runningView struct {
	PID     int       `json:"pid"`
	Since   time.Time `json:"since"`
	Updated time.Time `json:"updated"`
}

func (c *StatusCmd) run(ctx context.Context, e *env) error {
	for {
		v, err := c.view(ctx)
		if err != nil {
			return err
		}
		if c.Watch && !c.JSON {
			fmt.Fprint(e.Stdout, "\x1b[H\x1b[2J") // home, clear screen
		}
		if err := c.print(e, v); err != nil {
			return err
		}
		if !c.Watch || v.Job != "running" && v.Job != "starting" {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Interval):
		}
	}
}

func (c *StatusCmd) view(ctx context.Context) (*statusView, error) {
	l, err := checkpoint.OpenReadOnly(ctx, c.State)
	if err != nil {
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return nil, fmt.Errorf("state %s: %w", c.State, err)
		}
		if v, serr := c.starting(); v != nil || serr != nil {
			return v, serr
		}
		return nil, usagef("state %s: %w", c.State, err)
	}
	defer l.Close()
	job, err := l.Job(ctx)
	if err != nil {
		if v, serr := c.starting(); v != nil || serr != nil {
			return v, serr
		}
		return nil, usagef("state %s: %w", c.State, err)
	}
	p, err := l.Progress(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := l.Counts(ctx)
	if err != nil {
		return nil, err
	}
	v := &statusView{
		State: c.State, Job: "stopped", Input: job.Input, Started: job.CreatedAt, Updated: p.UpdatedAt,
		Finished: p.Finished, RowsDone: p.Seq, Counters: p.Counters, Rows: countRows(p.Counters, p.Seq),
		Results: counts.Results, Pending: counts.Pending, PaidCalls: paidInAll(p.Counters),
		PaidBy: paidByEndpoint(p.Counters),
	}
	for _, n := range counts.Pending {
		v.Handles += n
	}
	runs, err := loadRuns(c.State, job.Identity)
	if err != nil {
		return nil, err
	}
	v.Runs = len(runs)
	var last *runRecord
	if len(runs) > 0 {
		last = &runs[len(runs)-1]
		v.LastError = last.Error
	}
	pid, held, err := lockHolder(filepath.Join(c.State, "LOCK"))
	if err != nil {
		return nil, err
	}
	switch {
	case held:
		v.Job = "running"
		v.Running = &runningView{PID: pid}
		if r, _ := loadRunning(c.State); r != nil && r.Job == job.Identity {
			v.Running.Since, v.Running.Updated = r.StartedAt, r.UpdatedAt
			if v.Running.PID == 0 {
				v.Running.PID = r.PID
			}
			v.Percent, v.ETAS, v.RowsTotal = r.Percent, r.ETAS, r.RowsTotal
			last = r
		}
	case p.Finished:
		v.Job, v.RowsTotal = "finished", p.Seq
		hundred := 100
		v.Percent = &hundred
	case p.Seq == 0 && len(runs) == 0:
		v.Job = "not started"
	default:
		if last != nil {
			v.Percent = last.Percent
		}
	}
	if last != nil && v.Job != "running" && (v.Job != "finished" || pipeline.RetryableRows(p.Counters) > 0) {
		v.Resume = shellJoin(append([]string{"batch"}, last.Command...))
	}
	return v, nil
}

// starting returns the view of a job whose first run holds the state's
// lock but has not recorded the job yet (it is still reading the input's
// head or opening its outputs), nil when no process holds the lock.
func (c *StatusCmd) starting() (*statusView, error) {
	pid, held, err := lockHolder(filepath.Join(c.State, "LOCK"))
	if err != nil || !held {
		return nil, err
	}
	v := &statusView{State: c.State, Job: "starting", Running: &runningView{PID: pid},
		Counters: map[counter.Name]int64{}, PaidBy: map[string]int64{}, Pending: map[string]int64{},
		Results: map[string]map[string]int64{}, Rows: countRows(nil, 0)}
	if r, _ := loadRunning(c.State); r != nil {
		v.Running.Since, v.Running.Updated, v.Started = r.StartedAt, r.UpdatedAt, r.StartedAt
		if v.Running.PID == 0 {
			v.Running.PID = r.PID
		}
	}
	return v, nil
}

func (c *StatusCmd) print(e *env, v *statusView) error {
	if c.JSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := e.Stdout
	if v.Job == "starting" {
		since := ""
		if !v.Running.Since.IsZero() {
			since = ", since " + v.Running.Since.Local().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "job:        starting (pid %d%s): its first run holds the lock and has not recorded the job yet\n", v.Running.PID, since)
		fmt.Fprintf(w, "state:      %s\n", v.State)
		return nil
	}
	job := v.Job
	switch {
	case v.Running != nil && !v.Running.Since.IsZero():
		job = fmt.Sprintf("running (pid %d, since %s)", v.Running.PID, v.Running.Since.Local().Format(time.RFC3339))
	case v.Running != nil:
		job = fmt.Sprintf("running (pid %d)", v.Running.PID)
	case v.Job == "finished" && v.Rows.Retryable+v.Rows.Pending > 0:
		job = "finished with retryable rows"
	}
	fmt.Fprintf(w, "job:        %s\n", job)
	fmt.Fprintf(w, "input:      %s\n", v.Input)
	fmt.Fprintf(w, "started:    %s\n", v.Started.Format(time.RFC3339))
	if !v.Updated.IsZero() {
		fmt.Fprintf(w, "updated:    %s\n", v.Updated.Format(time.RFC3339))
	}
	done := fmt.Sprintf("%d", v.RowsDone)
	if v.RowsTotal > 0 {
		done += fmt.Sprintf(" of %d", v.RowsTotal)
	}
	if v.Percent != nil {
		done += fmt.Sprintf(" (%d%%)", *v.Percent)
	}
	if v.ETAS != nil {
		done += fmt.Sprintf(", ETA %s", (time.Duration(*v.ETAS) * time.Second).String())
	}
	fmt.Fprintf(w, "rows done:  %s\n", done)
	fmt.Fprintf(w, "rows:       %d final, %d retryable, %d pending (%s; rejected %d)\n",
		v.Rows.Final, v.Rows.Retryable, v.Rows.Pending, joinCounts(v.Rows.ByState), v.Rows.Rejected)
	fmt.Fprintf(w, "paid calls: %d billed%s; answers bought %d, cache hits %d, duplicates %d, polls %d\n",
		v.PaidCalls, perEndpoint(v.PaidBy), calls(v.Counters),
		v.Counters[counter.CacheHits], v.Counters[counter.DedupeHits], v.Counters[counter.Polls])
	for _, kind := range []string{"verify", "person", "organization"} {
		if m := v.Results[kind]; len(m) > 0 {
			fmt.Fprintf(w, "%-11s %s\n", kind+":", joinCounts(m))
		}
	}
	fmt.Fprintf(w, "pending:    %d handles (%s)\n", v.Handles, joinCounts(v.Pending))
	if v.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", v.LastError)
	}
	if v.Resume != "" {
		fmt.Fprintf(w, "resume:     %s\n", v.Resume)
	}
	return nil
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

func joinCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, m[k])
	}
	return s
}

// paidByEndpoint picks the paid_<endpoint> counters.
func paidByEndpoint(counters map[counter.Name]int64) map[string]int64 {
	m := map[string]int64{}
	for k, v := range counters {
		if ep, ok := counter.Paid.Cut(k); ok {
			m[ep] = v
		}
	}
	return m
}
