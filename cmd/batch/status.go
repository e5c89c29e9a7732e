package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/contactbatch/batch/checkpoint"
)

// statusView is what `batch status` prints. PaidCalls are the calls billed
// over all runs (the contract's billing rules, as the run summary counts).
type statusView struct {
	State     string                      `json:"state"`
	Input     string                      `json:"input"`
	Started   time.Time                   `json:"started"`
	Updated   time.Time                   `json:"updated"`
	Finished  bool                        `json:"finished"`
	RowsDone  int64                       `json:"rows_done"`
	Counters  map[string]int64            `json:"counters"`
	Results   map[string]map[string]int64 `json:"results_by_kind_status"`
	Pending   map[string]int64            `json:"pending_polls_by_kind"`
	PaidCalls int64                       `json:"paid_calls"`
}

func (c *StatusCmd) run(ctx context.Context, e *env) error {
	l, err := checkpoint.OpenReadOnly(ctx, c.State)
	if err != nil {
		if errors.Is(err, checkpoint.ErrCorrupt) {
			return fmt.Errorf("state %s: %w", c.State, err)
		}
		return usagef("state %s: %w", c.State, err)
	}
	defer l.Close()
	job, err := l.Job(ctx)
	if err != nil {
		return usagef("state %s: %w", c.State, err)
	}
	p, err := l.Progress(ctx)
	if err != nil {
		return err
	}
	counts, err := l.Counts(ctx)
	if err != nil {
		return err
	}
	v := statusView{
		State: c.State, Input: job.Input, Started: job.CreatedAt, Updated: p.UpdatedAt,
		Finished: p.Finished, RowsDone: p.Seq, Counters: p.Counters,
		Results: counts.Results, Pending: counts.Pending, PaidCalls: paidInAll(p.Counters),
	}
	if c.JSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	state := "in progress (or stopped: rerun the same command to resume)"
	if v.Finished {
		state = "finished"
	}
	fmt.Fprintf(e.Stdout, "job:        %s\n", state)
	fmt.Fprintf(e.Stdout, "input:      %s\n", v.Input)
	fmt.Fprintf(e.Stdout, "started:    %s\n", v.Started.Format(time.RFC3339))
	if !v.Updated.IsZero() {
		fmt.Fprintf(e.Stdout, "updated:    %s\n", v.Updated.Format(time.RFC3339))
	}
	fmt.Fprintf(e.Stdout, "rows done:  %d (written %d, rejected %d, errors %d, pending %d)\n", v.RowsDone,
		v.Counters["rows_written"], v.Counters["rows_rejected"], v.Counters["rows_error"], v.Counters["rows_pending"])
	fmt.Fprintf(e.Stdout, "paid calls: %d billed%s; answers bought %d, cache hits %d, duplicates %d, polls %d\n",
		v.PaidCalls, perEndpoint(paidByEndpoint(v.Counters)), calls(v.Counters),
		v.Counters["cache_hits"], v.Counters["dedupe_hits"], v.Counters["polls"])
	for _, kind := range []string{"verify", "person", "organization"} {
		if m := v.Results[kind]; len(m) > 0 {
			fmt.Fprintf(e.Stdout, "%-11s %s\n", kind+":", joinCounts(m))
		}
	}
	fmt.Fprintf(e.Stdout, "pending:    %s\n", joinCounts(v.Pending))
	return nil
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
func paidByEndpoint(counters map[string]int64) map[string]int64 {
	m := map[string]int64{}
	for k, v := range counters {
		if ep, ok := strings.CutPrefix(k, "paid_"); ok {
			m[ep] = v
		}
	}
	return m
}
