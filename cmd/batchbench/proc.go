package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// runner starts the batch binary against one emulator.
type runner struct {
	bin string // absolute path of bin/batch
	url string // emulator base URL
	// extraEnv is added to the child environment; stderr, if set, also
	// gets the child's standard error.
	extraEnv []string
	stderr   io.Writer
}

// runResult is the outcome of one finished batch process.
type runResult struct {
	Code   int
	Start  time.Time
	Wall   time.Duration
	MaxRSS int64         // peak resident set, KiB
	CPU    time.Duration // user + system time
	Stderr string
}

// proc is a started batch process.
type proc struct {
	cmd    *exec.Cmd
	start  time.Time
	stderr *tailBuffer
	done   chan struct{}
	err    error // from Wait, valid after done is closed
}

// env is the child environment: the parent's without any CUSTOMEROS_
// variable, then the bench key and the emulator URL.
func (r runner) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTOMEROS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "CUSTOMEROS_API_KEY=bench", "CUSTOMEROS_API_URL="+r.url)
	return append(env, r.extraEnv...)
}

// start launches `batch args...`; the child is killed when ctx ends (and,
// on Linux, when the bench process dies).
func (r runner) start(ctx context.Context, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = r.env()
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 5 * time.Second
	p := &proc{cmd: cmd, stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if r.stderr != nil {
		cmd.Stderr = io.MultiWriter(p.stderr, r.stderr)
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", r.bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// wait waits for p to exit and describes how it ended.
func (p *proc) wait() (runResult, error) {
	<-p.done
	res := runResult{Start: p.start, Wall: time.Since(p.start), Stderr: p.stderr.String()}
	if st := p.cmd.ProcessState; st != nil {
		res.Code = st.ExitCode()
		res.MaxRSS = maxRSSKiB(st)
		res.CPU = st.UserTime() + st.SystemTime()
	}
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		return res, fmt.Errorf("wait for batch: %w", p.err)
	}
	return res, nil
}

// exited reports whether p has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits.
func (p *proc) kill() (runResult, error) {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	return p.wait()
}

// runBatch runs `batch args...` to the end.
func (r runner) runBatch(ctx context.Context, args ...string) (runResult, error) {
	p, err := r.start(ctx, args...)
	if err != nil {
		return runResult{}, err
	}
	return p.wait()
}

// mustExit runs batch and fails unless it exits with code want.
func (r runner) mustExit(ctx context.Context, want int, args ...string) (runResult, error) {
	res, err := r.runBatch(ctx, args...)
	if err != nil {
		return res, err
	}
	if res.Code != want {
		return res, fmt.Errorf("batch %s: exit %d, want %d; stderr: %s", args[0], res.Code, want, res.Stderr)
	}
	return res, nil
}

// gcTrace reads GODEBUG=gctrace=1 lines ("gc 12 @0.5s 2%: ... 40->42->21 MB,
// ...") and keeps the largest live heap after a collection (the third
// figure).
type gcTrace struct {
	mu      sync.Mutex
	partial []byte
	maxLive float64 // MB
	cycles  int
}

func (g *gcTrace) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.partial = append(g.partial, p...)
	for {
		i := bytes.IndexByte(g.partial, '\n')
		if i < 0 {
			break
		}
		g.line(string(g.partial[:i]))
		g.partial = g.partial[i+1:]
	}
	return len(p), nil
}

func (g *gcTrace) line(l string) {
	if !strings.HasPrefix(l, "gc ") {
		return
	}
	for _, f := range strings.Split(l, ",") {
		f = strings.TrimSpace(f)
		if !strings.HasSuffix(f, " MB") || strings.Count(f, "->") != 2 {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(f, " MB"), "->")
		var live float64
		if _, err := fmt.Sscan(parts[2], &live); err == nil {
			g.maxLive = max(g.maxLive, live)
			g.cycles++
		}
	}
}

// peak returns the largest live heap seen, in MB, and the GC cycles read.
func (g *gcTrace) peak() (float64, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.maxLive, g.cycles
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
