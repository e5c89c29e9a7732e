package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline"
)

// report is the run summary, printed and written as JSON.
type report struct {
	Status         string           `json:"status"` // finished | stopped | failed
	Error          string           `json:"error,omitempty"`
	Input          string           `json:"input"`
	Output         string           `json:"output"`
	State          string           `json:"state"`
	Duration       string           `json:"duration"`
	RowsCommitted  int64            `json:"rows_committed"`
	RowsReadNow    int64            `json:"rows_read_this_run"`
	PaidCallsNow   int64            `json:"paid_calls_this_run"`
	HTTPAttempts   map[string]int64 `json:"http_attempts_this_run"`
	Retries        int64            `json:"retries_this_run"`
	Throttled      int64            `json:"throttled_this_run"`
	Counters       map[string]int64 `json:"counters"`
	FinishedAtUnix int64            `json:"finished_at_unix"`
}

func newReport(c *RunCmd, state string, s pipeline.Summary, st customeros.Stats, runErr error) *report {
	r := &report{
		Input: c.Input, Output: redactURL(c.Output), State: state,
		Duration:      s.Duration.Round(time.Millisecond).String(),
		RowsCommitted: s.Rows, RowsReadNow: s.Read, PaidCallsNow: s.Calls,
		HTTPAttempts: map[string]int64{}, Retries: st.Retries, Throttled: st.Throttled,
		Counters: s.Counters, FinishedAtUnix: time.Now().Unix(),
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
func (r *report) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "batch: %s in %s: %d rows written in all (%d read this run), %d rejected\n",
		r.Status, r.Duration, r.Counters["rows_written"], r.RowsReadNow, r.Counters["rows_rejected"])
	line := func(prefix string) string {
		var parts []string
		keys := make([]string, 0)
		for k := range r.Counters {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(k, prefix), r.Counters[k]))
		}
		return strings.Join(parts, ", ")
	}
	if s := line("rows_"); s != "" {
		fmt.Fprintf(w, "  rows:     %s\n", s)
	}
	if s := line("verdict_"); s != "" {
		fmt.Fprintf(w, "  verdicts: %s\n", s)
	}
	if s := line("person_"); s != "" {
		fmt.Fprintf(w, "  person:   %s\n", s)
	}
	if s := line("org_"); s != "" {
		fmt.Fprintf(w, "  org:      %s\n", s)
	}
	fmt.Fprintf(w, "  calls:    %d paid this run (%d in all), %d cache hits, %d duplicates answered once, %d polls, %d retries, %d throttled\n",
		r.PaidCallsNow, calls(r.Counters), r.Counters["cache_hits"], r.Counters["dedupe_hits"], r.Counters["polls"], r.Retries, r.Throttled)
	fmt.Fprintf(w, "  output:   %s   state: %s\n", r.Output, r.State)
}
