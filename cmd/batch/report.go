package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/internal/htmlreport"
	"github.com/contactbatch/batch/internal/redact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
)

// report is the run summary, printed and written as JSON.
type report struct {
	Status        string `json:"status"` // finished | stopped | failed
	Error         string `json:"error,omitempty"`
	Input         string `json:"input"`
	Output        string `json:"output"`
	State         string `json:"state"`
	Duration      string `json:"duration"`
	RowsCommitted int64  `json:"rows_committed"`
	RowsReadNow   int64  `json:"rows_read_this_run"`
	// PaidCallsNow and PaidNow are the calls billed this run (in all and
	// per endpoint) under the contract's billing rules; PaidInAll is the
	// job's total over all runs. Everything below them is not billing:
	// CallsNow are the calls made (what --max-calls caps), HTTPAttempts
	// the requests put on the wire, TransportErrors the attempts that got
	// no HTTP answer (refused, reset, timed out).
	PaidCallsNow    int64                  `json:"paid_calls_this_run"`
	PaidNow         map[string]int64       `json:"paid_this_run"`
	PaidInAll       int64                  `json:"paid_calls_in_all"`
	CallsNow        int64                  `json:"calls_this_run"`
	HTTPAttempts    map[string]int64       `json:"http_attempts_this_run"`
	Retries         int64                  `json:"retries_this_run"`
	Throttled       int64                  `json:"throttled_this_run"`
	TransportErrors int64                  `json:"transport_errors_this_run"`
	Counters        map[counter.Name]int64 `json:"counters"`
	FinishedAtUnix  int64                  `json:"finished_at_unix"`
	jobReport
}

func newReport(c *RunCmd, state string, s pipeline.Summary, st customeros.Stats, runErr error) *report {
	r := &report{
		Input: c.Input, Output: redact.URL(c.Output), State: state,
		Duration:      s.Duration.Round(time.Millisecond).String(),
		RowsCommitted: s.Rows, RowsReadNow: s.Read,
		PaidCallsNow: pipeline.PaidTotal(s.Paid), PaidNow: s.Paid, PaidInAll: paidInAll(s.Counters), CallsNow: s.Calls,
		HTTPAttempts: map[string]int64{}, Retries: st.Retries, Throttled: st.Throttled, TransportErrors: st.ByStatus[0],
		Counters: s.Counters, FinishedAtUnix: time.Now().Unix(),
	}
	if r.PaidNow == nil {
		r.PaidNow = map[string]int64{}
	}
	for ep, n := range st.Attempts {
		r.HTTPAttempts[string(ep)] = n
	}
	switch {
	case runErr == nil:
		r.Status = "finished"
	case errors.Is(runErr, pipeline.ErrStopped):
		r.Status, r.Error = "stopped", runErr.Error()
	default:
		r.Status, r.Error = "failed", runErr.Error()
	}
	return r
}

// write stores the report atomically (temp file, rename), mode 0600.
func (r *report) write(path string) error { return writeJSONAtomic(path, r) }

// writeReports completes the report with the job's top domains (saving
// their counts in state) and reject reasons, then writes report.json and
// the HTML page built from it. A report that cannot be written is a
// warning: the run's outcome stands.
func (c *RunCmd) writeReports(e *env, state string, r *report, dom *domainCounts) {
	if err := dom.save(state, r.RowsCommitted); err != nil {
		e.log.Warn("write domain counts", "err", err)
	}
	r.TopDomains, r.TopDomainsComplete = dom.top(topDomains), dom.complete
	reasons, err := readRejectReasons(r.jobReport.Rejects)
	if err != nil {
		e.log.Warn("read rejects for the report", "err", err)
	}
	r.RejectReasons = reasons
	if r.RejectReasons == nil {
		r.RejectReasons = []rejectReason{}
	}
	if err := r.write(c.reportPath(state)); err != nil {
		e.log.Warn("write report", "err", err)
	}
	b, err := json.Marshal(r)
	if err == nil {
		var page *htmlreport.Report
		if page, err = htmlreport.Parse(b); err == nil {
			err = htmlreport.WriteFile(c.reportHTMLPath(state), page)
		}
	}
	if err != nil {
		e.log.Warn("write HTML report", "err", err)
	}
}

// reportHTMLPath is --report-html, else report.html in the state directory.
func (c *RunCmd) reportHTMLPath(state string) string {
	if c.ReportHTML != "" {
		return c.ReportHTML
	}
	return filepath.Join(state, "report.html")
}

// log writes the summary as one log record (for --log-format json).
func (r *report) log(l *slog.Logger) {
	l.Info("summary", "status", r.Status, "error", r.Error, "duration", r.Duration,
		"job_rows_done", r.RowsCommitted, "job_rows_written", r.Counters[counter.RowsWritten],
		"job_rows_rejected", r.Counters[counter.RowsRejected], "run_rows_read", r.RowsReadNow,
		"run_paid_calls", r.PaidCallsNow, "run_paid_by_endpoint", r.PaidNow, "job_paid_calls", r.PaidInAll,
		"run_calls", r.CallsNow,
		"job_cache_hits", r.Counters[counter.CacheHits], "job_duplicates", r.Counters[counter.DedupeHits],
		"run_retries", r.Retries, "run_http_429", r.Throttled, "counters", r.Counters,
		"output", r.Output, "state", r.State)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "batch: %s in %s\n", r.Status, r.Duration)
	fmt.Fprintf(w, "  done:     %d rows done (%d written, %d rejected), %d read this run\n",
		r.RowsCommitted, r.Counters[counter.RowsWritten], r.Counters[counter.RowsRejected], r.RowsReadNow)
	line := func(f counter.Family) string {
		var parts []string
		keys := make([]counter.Name, 0)
		for k := range r.Counters {
			if _, ok := f.Cut(k); ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			part, _ := f.Cut(k)
			parts = append(parts, fmt.Sprintf("%s %d", part, r.Counters[k]))
		}
		return strings.Join(parts, ", ")
	}
	if s := line(counter.Rows); s != "" {
		fmt.Fprintf(w, "  rows:     %s\n", s)
	}
	if s := line(counter.Verdict); s != "" {
		fmt.Fprintf(w, "  verdicts: %s\n", s)
	}
	if s := line(counter.Person); s != "" {
		fmt.Fprintf(w, "  person:   %s\n", s)
	}
	if s := line(counter.Org); s != "" {
		fmt.Fprintf(w, "  org:      %s\n", s)
	}
	fmt.Fprintf(w, "  paid:     %d billed this run%s, %d in all runs\n", r.PaidCallsNow, perEndpoint(r.PaidNow), r.PaidInAll)
	fmt.Fprintf(w, "  calls:    %d made this run, %d HTTP attempts, %d retries, %d 429s, %d without an answer (refused, reset, timed out)\n",
		r.CallsNow, sumValues(r.HTTPAttempts), r.Retries, r.Throttled, r.TransportErrors)
	fmt.Fprintf(w, "  saved:    %d cache hits, %d duplicates answered once, %d polls\n", r.Counters[counter.CacheHits], r.Counters[counter.DedupeHits], r.Counters[counter.Polls])
	fmt.Fprintf(w, "  output:   %s\n", r.Output)
	fmt.Fprintf(w, "  state:    %s\n", r.State)
}

// paidInAll sums the job's billed-call counters (paid_<endpoint>).
func paidInAll(counters map[counter.Name]int64) int64 {
	var n int64
	for k, v := range counters {
		if _, ok := counter.Paid.Cut(k); ok {
			n += v
		}
	}
	return n
}

// perEndpoint renders " (verify 3, person 1)" for the non-zero counts, or "".
func perEndpoint(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
