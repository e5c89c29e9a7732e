// Package htmlreport renders a job's report.json as one self-contained
// HTML page: inline CSS and inline SVG charts, no script, no font, no
// request to anywhere. The page is built from report.json alone, so it can
// be rebuilt from that file at any time (Parse, then Render).
//
// Every value from the report (domains, reject reasons, paths, errors) is
// user data and goes through html/template's contextual escaping.
//
// The charts carry their figures in data-* attributes (data-chart on each
// <svg>, data-label and data-value on each bar, data-calls and data-http429
// on each run's time series), so a test can compare them with report.json.
package htmlreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Report is the part of report.json the page shows. Field names and JSON
// tags follow report.json; unknown fields are ignored, missing ones are
// shown as absent.
type Report struct {
	Status       string           `json:"status"`
	Error        string           `json:"error"`
	Job          string           `json:"job"`
	Input        string           `json:"input"`
	Output       string           `json:"output"`
	Rejects      string           `json:"rejects"`
	Stages       []string         `json:"stages"`
	StartedAt    time.Time        `json:"started_at"`
	EndedAt      time.Time        `json:"ended_at"`
	DurationS    float64          `json:"duration_s"`
	JobStartedAt time.Time        `json:"job_started_at"`
	JobDurationS float64          `json:"job_duration_s"`
	Rows         Rows             `json:"rows"`
	Verdicts     map[string]int64 `json:"verdicts"`
	PaidBy       map[string]int64 `json:"paid_by_endpoint"`
	PaidInAll    int64            `json:"paid_calls_in_all"`
	Saved        Saved            `json:"saved"`
	RetriesAll   int64            `json:"retries_in_all"`
	HTTP429All   int64            `json:"http_429_in_all"`
	TopDomains   []Domain         `json:"top_domains"`
	// DomainsComplete is false when the domain counts miss rows (a run
	// that crashed before it could record them).
	DomainsComplete bool     `json:"top_domains_complete"`
	RejectReasons   []Reason `json:"reject_reasons"`
	Runs            []Run    `json:"runs"`
}

// Rows are the job's rows by state.
type Rows struct {
	Done      int64            `json:"done"`
	Final     int64            `json:"final"`
	Retryable int64            `json:"retryable"`
	Pending   int64            `json:"pending"`
	Rejected  int64            `json:"rejected"`
	ByState   map[string]int64 `json:"by_state"`
}

// Saved are the calls the job did not pay for.
type Saved struct {
	Duplicates  int64 `json:"duplicates"`
	LocalChecks int64 `json:"local_checks"`
	Cache       int64 `json:"cache"`
}

// Domain is one email domain and the rows that carry it.
type Domain struct {
	Domain string `json:"domain"`
	Rows   int64  `json:"rows"`
}

// Reason is one reject reason, how many rows it rejected and the first of
// their input line numbers.
type Reason struct {
	Reason string  `json:"reason"`
	Rows   int64   `json:"rows"`
	Lines  []int64 `json:"lines"`
}

// Run is one run of the job.
type Run struct {
	PID         int        `json:"pid"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	DurationS   float64    `json:"duration_s"`
	Status      string     `json:"status"`
	Error       string     `json:"error"`
	RowsAtStart int64      `json:"rows_at_start"`
	RowsDone    int64      `json:"rows_done"`
	RowsTotal   int64      `json:"rows_total"`
	Percent     *int       `json:"percent"`
	Calls       int64      `json:"calls"`
	Paid        int64      `json:"paid"`
	Retries     int64      `json:"retries"`
	HTTP429     int64      `json:"http_429"`
	Timeline    []Sample   `json:"timeline"`
}

// Sample is a point of a run's timeline: cumulative figures T seconds
// after the run started.
type Sample struct {
	T       float64 `json:"t_s"`
	Rows    int64   `json:"rows"`
	Calls   int64   `json:"calls"`
	Paid    int64   `json:"paid"`
	HTTP429 int64   `json:"http_429"`
}

// Parse reads a report.json document.
func Parse(b []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("htmlreport: parse report: %w", err)
	}
	return &r, nil
}

// Render writes the page for r to w.
func Render(w io.Writer, r *Report) error {
	if err := newPage().Execute(w, build(r)); err != nil {
		return fmt.Errorf("htmlreport: render: %w", err)
	}
	return nil
}

// WriteFile renders r to path atomically (a temporary file beside it,
// then a rename), mode 0600: the page holds input data.
func WriteFile(path string, r *Report) error {
	var buf bytes.Buffer
	if err := Render(&buf, r); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("htmlreport: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("htmlreport: %w", err)
	}
	return nil
}

// sortedBars turns a map into bars, largest first (ties by name).
func sortedBars(m map[string]int64) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].V != out[j].V {
			return out[i].V > out[j].V
		}
		return out[i].K < out[j].K
	})
	return out
}

type kv struct {
	K string
	V int64
}
