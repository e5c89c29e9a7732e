package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/contactbatch/batch/pipeline"
)

// byteProgress is implemented by sources that know how far through their
// input they are (bytes read of total; total < 0 when unknown).
type byteProgress interface {
	Progress() (done, total int64)
}

// startProgress shows a progress bar on a terminal, or a log line every
// interval otherwise. The returned func stops it.
func startProgress(e *env, mode string, r *pipeline.Runner, src any) func() {
	if e.quiet || mode == "none" {
		return func() {}
	}
	f, isFile := e.Stderr.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	if mode == "bar" || (mode == "auto" && tty) {
		return startBar(e, r, src)
	}
	return startLogLines(e, r, 10*time.Second)
}

func startBar(e *env, r *pipeline.Runner, src any) func() {
	bp, _ := src.(byteProgress)
	total := int64(-1)
	if bp != nil {
		if _, t := bp.Progress(); t > 0 {
			total = t
		}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(e.Stderr),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSpinnerType(14),
	}
	if total > 0 {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionSetPredictTime(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"))
	}
	bar := progressbar.NewOptions64(total, opts...)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for {
			s := r.Snapshot()
			rate := float64(s.Read) / max(time.Since(start).Seconds(), 0.001)
			bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s, %d calls, %d cached, %d parked", s.Committed, rate,
				calls(s.Counters), s.Counters["cache_hits"]+s.Counters["dedupe_hits"], s.Parked))
			if total > 0 {
				d, _ := bp.Progress()
				bar.Set64(d)
			} else {
				bar.Set64(s.Committed)
			}
			select {
			case <-t.C:
			case <-done:
				bar.Finish()
				fmt.Fprintln(e.Stderr)
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func startLogLines(e *env, r *pipeline.Runner, every time.Duration) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-t.C:
			case <-done:
				return
			}
			s := r.Snapshot()
			e.log.Info("progress", "rows_committed", s.Committed, "rows_read", s.Read,
				"rows_per_s", int(float64(s.Read)/time.Since(start).Seconds()),
				"calls", calls(s.Counters), "cache_hits", s.Counters["cache_hits"],
				"dedupe_hits", s.Counters["dedupe_hits"], "parked", s.Parked)
		}
	}()
	return func() { close(done); wg.Wait() }
}

func calls(c map[string]int64) int64 {
	return c["calls_verify"] + c["calls_person"] + c["calls_organization"]
}
