package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The state directory keeps every run of its job: runs.json holds the
// ended runs, running.json the run in progress (rewritten as it goes, so
// `batch status` can show its figures). Both are written atomically.
const (
	runsFile    = "runs.json"
	runningFile = "running.json"
)

// runRecord is one run of a job.
type runRecord struct {
	Job          string           `json:"job"` // the job's identity
	PID          int              `json:"pid"`
	Command      []string         `json:"command"` // as given, URLs redacted
	StartedAt    time.Time        `json:"started_at"`
	EndedAt      *time.Time       `json:"ended_at,omitempty"`
	UpdatedAt    time.Time        `json:"updated_at"`
	DurationS    float64          `json:"duration_s"`
	Status       string           `json:"status"` // running, finished, stopped, failed
	Error        string           `json:"error,omitempty"`
	RowsAtStart  int64            `json:"rows_at_start"`
	RowsDone     int64            `json:"rows_done"` // committed this run
	RowsRead     int64            `json:"rows_read"`
	RowsTotal    int64            `json:"rows_total,omitempty"`
	Percent      *int             `json:"percent,omitempty"`
	ETAS         *int64           `json:"eta_s,omitempty"`
	Calls        int64            `json:"calls"`
	MaxCalls     int64            `json:"max_calls,omitempty"`
	Paid         int64            `json:"paid"`
	PaidBy       map[string]int64 `json:"paid_by_endpoint"`
	HTTPAttempts map[string]int64 `json:"http_attempts"`
	Outcomes     map[string]int64 `json:"outcomes,omitempty"` // endpoint/outcome → attempts
	Retries      int64            `json:"retries"`
	HTTP429      int64            `json:"http_429"`
	Timeline     []sample         `json:"timeline"`
}

// sample is a point of a run's timeline: cumulative figures t_s seconds
// after the run started.
type sample struct {
	T       float64 `json:"t_s"`
	Rows    int64   `json:"rows"`
	Calls   int64   `json:"calls"`
	Paid    int64   `json:"paid"`
	HTTP429 int64   `json:"http_429"`
}

// maxSamples bounds a run's timeline; past it every other point is dropped.
const maxSamples = 240

func (r *runRecord) addSample(s sample) {
	if n := len(r.Timeline); n > 0 && r.Timeline[n-1].T == s.T {
		r.Timeline[n-1] = s
		return
	}
	r.Timeline = append(r.Timeline, s)
	if len(r.Timeline) > maxSamples {
		kept := r.Timeline[:0]
		for i, p := range r.Timeline {
			if i%2 == 0 || i == len(r.Timeline)-1 {
				kept = append(kept, p)
			}
		}
		r.Timeline = kept
	}
}

// loadRuns returns the ended runs of job recorded in dir (runs of another
// job, before a --restart, are left out).
func loadRuns(dir, job string) ([]runRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, runsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var all []runRecord
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("%s: %w", runsFile, err)
	}
	var runs []runRecord
	for _, r := range all {
		if job == "" || r.Job == job {
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// appendRun records an ended run.
func appendRun(dir string, r runRecord) ([]runRecord, error) {
	runs, err := loadRuns(dir, r.Job)
	if err != nil {
		runs = nil // an unreadable history is replaced rather than blocking the run
	}
	runs = append(runs, r)
	return runs, writeJSONAtomic(filepath.Join(dir, runsFile), runs)
}

// loadRunning returns the record of the run in progress, nil if none.
func loadRunning(dir string) (*runRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, runningFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r runRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", runningFile, err)
	}
	return &r, nil
}

// writeJSONAtomic writes v as indented JSON through a temporary file and
// a rename, mode 0600.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
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
