//go:build linux

package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// gatedAPI passes the first n API requests to the emulator and holds the
// others until open is called, so a run is surely in progress while the
// test acts on it.
type gatedAPI struct {
	URL   string
	gate  chan struct{}
	once  sync.Once
	seen  atomic.Int64
	limit int64
}

func startGatedAPI(t *testing.T, em *emulator, n int64) *gatedAPI {
	t.Helper()
	u, err := url.Parse(em.URL)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedAPI{gate: make(chan struct{}), limit: n}
	proxy := httputil.NewSingleHostReverseProxy(u)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.seen.Add(1) > g.limit {
			select {
			case <-g.gate:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { g.open(); ts.Close() })
	g.URL = ts.URL
	return g
}

func (g *gatedAPI) open() { g.once.Do(func() { close(g.gate) }) }

// ptyOutput collects what a program writes to its pseudo-terminal and
// tells waiters of every chunk.
type ptyOutput struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	update chan struct{} // closed and replaced at each chunk
	done   chan error
}

func readPTY(ptmx interface{ Read([]byte) (int, error) }) *ptyOutput {
	o := &ptyOutput{update: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			close(o.update)
			o.update = make(chan struct{})
			o.mu.Unlock()
			if err != nil {
				o.done <- err
				return
			}
		}
	}()
	return o
}

// waitFor blocks until ok holds for the output so far and returns the
// output's length then. The reader ending first fails the test, and so
// does a minute without ok (a guard against a hang, not a timing
// assumption: the run is held at the gate meanwhile).
func (o *ptyOutput) waitFor(t *testing.T, what string, ok func([]byte) bool) int {
	t.Helper()
	guard := time.After(time.Minute)
	for {
		o.mu.Lock()
		b, ch := o.buf.Bytes(), o.update
		if ok(b) {
			n := len(b)
			o.mu.Unlock()
			return n
		}
		o.mu.Unlock()
		select {
		case <-ch:
		case err := <-o.done:
			o.done <- err
			t.Fatalf("the program ended before %s (%v):\n%q", what, err, o.bytes())
		case <-guard:
			t.Fatalf("no %s within a minute:\n%q", what, o.bytes())
		}
	}
}

func (o *ptyOutput) bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf.Bytes())
}

// frames are the progress frames in raw output, each with its offset.
func frames(raw []byte) (out []string, at []int) {
	s := string(raw)
	for off := 0; ; {
		i := strings.Index(s[off:], clearLineSeq)
		if i < 0 {
			return out, at
		}
		start := off + i + len(clearLineSeq)
		f := s[start:]
		f, _, _ = strings.Cut(f, "\r")
		f, _, _ = strings.Cut(f, "\n")
		if progressRow.MatchString(f) {
			out, at = append(out, f), append(at, start)
		}
		off = start
	}
}

// TestProgressResizedMidRun shrinks the terminal from 80 to 40 columns
// while a run is held in progress (SIGWINCH): from the redraw on, no frame
// reaches the new width. The API key is one letter ("k"), so the redaction
// of stderr must leave the frames' clear-line escapes (ESC [ 2 K) alone.
func TestProgressResizedMidRun(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	api := startGatedAPI(t, em, 30)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 200, 0, 0, 9)
	cmd := batchCmd(t, api.URL, "run", "-i", in, "-o", filepath.Join(dir, "out.csv"), "--verify", "-w", "2", "--no-cache")
	cmd.Env = append(cmd.Env, "CUSTOMEROS_API_KEY=k")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	out := readPTY(ptmx)

	// A frame at 80 columns, then the run is held at the gate.
	out.waitFor(t, "a progress frame", func(b []byte) bool { f, _ := frames(b); return len(f) > 0 })
	resizedAt := len(out.bytes())
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 40, Rows: 50}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "a frame under 40 columns after the resize", func(b []byte) bool {
		f, at := frames(b)
		for i := range f {
			if at[i] >= resizedAt && displayWidth(f[i]) < 40 {
				return true
			}
		}
		return false
	})
	api.open()
	code := exitStatus(t, cmd.Wait())
	if err := <-out.done; err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	raw := out.bytes()
	if code != 0 {
		t.Fatalf("exit %d:\n%q", code, raw)
	}
	if bytes.Contains(raw, []byte("\x1b[2[redacted]")) || bytes.Contains(raw, []byte("[redacted]")) {
		t.Errorf("a one-letter key mangled the output:\n%q", raw)
	}
	// Frames drawn between the resize and the binary's redraw may still be
	// 80 columns wide (drawn for the old width); from the redraw, the
	// first narrow frame, on, none reaches 40.
	f, at := frames(raw)
	var before, after int
	redrawn := false
	for i := range f {
		w := displayWidth(f[i])
		switch {
		case at[i] < resizedAt:
			before++
			if w >= 80 {
				t.Errorf("frame %d columns wide at 80 columns: %q", w, f[i])
			}
		case redrawn || w < 40:
			redrawn = true
			after++
			if w >= 40 {
				t.Errorf("frame %d columns wide after the redraw at 40 columns: %q", w, f[i])
			}
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("%d frames before the resize and %d after the redraw; want some of each", before, after)
	}
	last := f[len(f)-1]
	if !strings.HasPrefix(last, "100%") {
		t.Errorf("final frame %q", last)
	}
}
