package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	return append(env, "CUSTOMEROS_API_KEY=bench", "CUSTOMEROS_API_URL="+r.url)
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
