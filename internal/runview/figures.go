// Package runview turns a run's figures into what people and log readers
// see: a one-line progress display that fits the terminal, and the same
// fields as structured log attributes. It does not know how the figures
// are counted; cmd/batch fills Figures from the runner and the client.
package runview

import (
	"log/slog"
	"math"
	"time"
)

// Run states a display knows.
const (
	StateRunning  = "running"
	StateStopped  = "stopped"
	StateFinished = "finished"
)

// Figures are the numbers one frame shows. "Job" figures count every run
// of the job; "Run" figures count this run only.
type Figures struct {
	State string // StateRunning, StateStopped or StateFinished

	JobRows   int64 // rows committed, whole job
	RowsTotal int64 // rows in the input, 0 when unknown
	RunRows   int64 // rows committed this run

	BytesDone  int64 // input bytes read (absolute offset)
	BytesTotal int64 // input size, 0 when unknown
	BytesStart int64 // offset this run started at

	Elapsed time.Duration // this run

	RunPaid  int64 // calls billed this run
	RunCalls int64 // calls made this run, billed or not (what --max-calls caps)
	MaxCalls int64 // --max-calls, 0 for no cap
	JobCache int64 // answers taken from the cache, whole job
	JobDupes int64 // duplicates answered once, whole job
	Run429   int64 // HTTP 429 answers this run
	Parked   int   // async lookups waiting for a poll
}

// Fraction is how far the job is, from rows when the total is known, else
// from input bytes; ok is false when neither is known. A run that is not
// finished never reaches 1.
func (f Figures) Fraction() (frac float64, ok bool) {
	switch {
	case f.State == StateFinished:
		return 1, true
	case f.RowsTotal > 0:
		frac, ok = float64(f.JobRows)/float64(f.RowsTotal), true
	case f.BytesTotal > 0:
		frac, ok = float64(f.BytesDone)/float64(f.BytesTotal), true
	default:
		return 0, false
	}
	return min(max(frac, 0), 0.999), ok
}

// Percent is Fraction in whole percent, rounded down (so 100 only when
// finished); -1 when unknown.
func (f Figures) Percent() int {
	frac, ok := f.Fraction()
	if !ok {
		return -1
	}
	return int(math.Floor(frac * 100))
}

// Rate is rows committed per second this run.
func (f Figures) Rate() float64 {
	s := f.Elapsed.Seconds()
	if s <= 0 {
		return 0
	}
	return float64(f.RunRows) / s
}

// ETA is the time left at this run's pace; ok is false when it cannot be
// told (nothing done yet, total unknown, or not running).
func (f Figures) ETA() (time.Duration, bool) {
	if f.State != StateRunning || f.Elapsed <= 0 {
		return 0, false
	}
	frac, ok := f.Fraction()
	if !ok {
		return 0, false
	}
	var start float64
	switch {
	case f.RowsTotal > 0:
		start = float64(f.JobRows-f.RunRows) / float64(f.RowsTotal)
	default:
		start = float64(f.BytesStart) / float64(f.BytesTotal)
	}
	gained := frac - start
	if gained <= 0 {
		return 0, false
	}
	left := f.Elapsed.Seconds() * (1 - frac) / gained
	return time.Duration(left * float64(time.Second)).Round(time.Second), true
}

// Attrs are the figures as structured log attributes, job-wide and
// this-run counts named as such.
func (f Figures) Attrs() []slog.Attr {
	a := []slog.Attr{slog.String("state", f.State)}
	if p := f.Percent(); p >= 0 {
		a = append(a, slog.Int("percent", p))
	}
	if eta, ok := f.ETA(); ok {
		a = append(a, slog.Int64("eta_s", int64(eta.Seconds())))
	}
	a = append(a, slog.Int64("job_rows_done", f.JobRows))
	if f.RowsTotal > 0 {
		a = append(a, slog.Int64("job_rows_total", f.RowsTotal))
	}
	if f.BytesTotal > 0 {
		a = append(a, slog.Int64("input_bytes_read", f.BytesDone), slog.Int64("input_bytes_total", f.BytesTotal))
	}
	a = append(a,
		slog.Int64("run_rows_done", f.RunRows),
		slog.Int64("run_rows_per_s", int64(math.Round(f.Rate()))),
		slog.Int64("run_paid_calls", f.RunPaid),
		slog.Int64("run_calls", f.RunCalls),
	)
	if f.MaxCalls > 0 {
		a = append(a, slog.Int64("run_max_calls", f.MaxCalls))
	}
	return append(a,
		slog.Int64("job_cache_hits", f.JobCache),
		slog.Int64("job_duplicates", f.JobDupes),
		slog.Int64("run_http_429", f.Run429),
		slog.Int("parked_polls", f.Parked),
		slog.Int64("run_elapsed_s", int64(f.Elapsed.Seconds())),
	)
}
