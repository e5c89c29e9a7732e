package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/internal/runview"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
)

// byteProgress is implemented by sources that know how far through their
// input they are (bytes read of total; total < 0 when unknown).
type byteProgress interface {
	Progress() (done, total int64)
}

// probe gathers the figures a display shows from the runner, the client
// and the source. How the counts are made lives here; how they look lives
// in internal/runview, so a new counter is wired in one line of figures.
type probe struct {
	runner    snapshotter
	stats     func() customeros.Stats
	src       byteProgress // nil when the source cannot tell
	startRows int64        // rows committed before this run
	startByte int64
	rowsTotal int64 // 0 when unknown
	maxCalls  int64
	start     time.Time
	now       func() time.Time
}

// snapshotter is the runner as the probe reads it.
type snapshotter interface {
	// Snapshot returns the run's current figures; safe for concurrent use.
	Snapshot() pipeline.Snapshot
}

func newProbe(r snapshotter, stats func() customeros.Stats, src any, resumeSeq, rowsTotal, maxCalls int64) *probe {
	p := &probe{runner: r, stats: stats, startRows: resumeSeq, rowsTotal: rowsTotal, maxCalls: maxCalls, now: time.Now}
	p.src, _ = src.(byteProgress)
	if p.src != nil {
		p.startByte, _ = p.src.Progress()
	}
	p.start = p.now()
	return p
}

// figures is the current frame while the run goes on.
func (p *probe) figures() runview.Figures { return p.figuresState().f }

func (p *probe) figuresState() figureState {
	return p.frame(runview.StateRunning, p.runner.Snapshot(), p.now().Sub(p.start))
}

// final is the last frame: the same figures the summary prints.
func (p *probe) final(state string, s pipeline.Summary) runview.Figures {
	return p.finalState(state, s).f
}

func (p *probe) finalState(state string, s pipeline.Summary) figureState {
	return p.frame(state, pipeline.Snapshot{Read: s.Read, Committed: s.Rows, Calls: s.Calls, Paid: s.Paid,
		Counters: s.Counters, Parked: p.runner.Snapshot().Parked}, s.Duration)
}

func (p *probe) frame(state string, s pipeline.Snapshot, elapsed time.Duration) figureState {
	st := p.stats()
	f := runview.Figures{
		State: state, JobRows: s.Committed, RowsTotal: p.rowsTotal, RunRows: s.Committed - p.startRows,
		Elapsed: elapsed, RunPaid: pipeline.PaidTotal(s.Paid), RunCalls: s.Calls, MaxCalls: p.maxCalls,
		JobCache: s.Counters[counter.CacheHits], JobDupes: s.Counters[counter.DedupeHits],
		Run429: st.Throttled, Parked: s.Parked,
	}
	if p.src != nil {
		if done, total := p.src.Progress(); total > 0 {
			f.BytesDone, f.BytesTotal, f.BytesStart = done, total, p.startByte
		}
	}
	return figureState{f: f, read: s.Read, paid: s.Paid, stats: st}
}

// display is a running progress display; stop ends it with the final
// frame (which must be the summary's figures).
type display interface {
	stop(final runview.Figures)
}

type noDisplay struct{}

func (noDisplay) stop(runview.Figures) {}

// startProgress shows a progress line on a terminal, or a log line every
// 10 s otherwise.
func startProgress(e *env, mode string, p *probe) display {
	if e.quiet || mode == "none" {
		return noDisplay{}
	}
	f := e.tty
	tty := f != nil && term.IsTerminal(int(f.Fd()))
	if mode == "bar" || (mode == "auto" && tty) {
		width := func() int { return 80 }
		if tty {
			width = func() int {
				if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
					return w
				}
				return 80
			}
		}
		return startBar(e, p, width)
	}
	t := time.NewTicker(10 * time.Second)
	return startLogLines(e.log, p, t.C, t.Stop)
}

// barDisplay redraws the line four times a second and on resize; log
// lines written meanwhile pass above it.
type barDisplay struct {
	e    *env
	term *runview.Terminal
	done chan struct{}
	wg   sync.WaitGroup
}

func startBar(e *env, p *probe, width func() int) *barDisplay {
	d := &barDisplay{e: e, term: runview.NewTerminal(e.Stderr, width), done: make(chan struct{})}
	e.logw.set(d.term)
	resize := make(chan os.Signal, 1)
	notifyResize(resize)
	d.term.Draw(p.figures())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer signal.Stop(resize)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				d.term.Draw(p.figures())
			case <-resize:
				d.term.Redraw()
			case <-d.done:
				return
			}
		}
	}()
	return d
}

func (d *barDisplay) stop(final runview.Figures) {
	close(d.done)
	d.wg.Wait()
	d.term.Close(final)
	d.e.logw.set(d.e.Stderr)
}

// logDisplay logs the figures at every tick.
type logDisplay struct {
	done     chan struct{}
	wg       sync.WaitGroup
	stopTick func()
}

func startLogLines(log *slog.Logger, p *probe, tick <-chan time.Time, stopTick func()) *logDisplay {
	d := &logDisplay{done: make(chan struct{}), stopTick: stopTick}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			select {
			case <-tick:
			case <-d.done:
				return
			}
			log.LogAttrs(context.Background(), slog.LevelInfo, "progress", p.figures().Attrs()...)
		}
	}()
	return d
}

func (d *logDisplay) stop(runview.Figures) {
	close(d.done)
	d.wg.Wait()
	d.stopTick()
}

// switchWriter is stderr as the logger sees it: the terminal display
// while a progress line is shown, so log lines pass above it.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

func calls(c map[counter.Name]int64) int64 {
	return c[counter.Calls.Of("verify")] + c[counter.Calls.Of("person")] + c[counter.Calls.Of("organization")]
}

// jsonLines turns plain "batch: …" lines into log records, so that under
// --log-format json every line on stderr is JSON.
type jsonLines struct {
	log     *slog.Logger
	level   slog.Level
	mu      sync.Mutex
	pending []byte
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(j.pending, p...)
	for {
		i := bytes.IndexByte(j.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(strings.TrimPrefix(string(j.pending[:i]), "batch: "))
		j.pending = j.pending[i+1:]
		if line != "" {
			j.log.Log(context.Background(), j.level, line)
		}
	}
}
