//go:build linux

package main

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/hinshun/vt10x"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// screenRows is tall enough that a whole test session fits without
// scrolling, so the emulated screen keeps every line printed.
const screenRows = 400

// ttyRun runs the binary on a pseudo-terminal cols wide and returns its
// exit code, the raw bytes it wrote, and the screen as a terminal emulator
// (vt10x) shows it, one string per row.
func ttyRun(t *testing.T, cmd *exec.Cmd, cols int, screen vt10x.Terminal) (int, []byte) {
	t.Helper()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var raw bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(&raw, screen), ptmx)
		copied <- err
	}()
	code := exitStatus(t, cmd.Wait())
	// The child is gone: the reader gets the rest, then EIO.
	if err := <-copied; err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	return code, raw.Bytes()
}

func screenLines(screen vt10x.Terminal) []string {
	screen.Lock()
	defer screen.Unlock()
	cols, rows := screen.Size()
	lines := make([]string, 0, rows)
	for y := range rows {
		var b strings.Builder
		for x := range cols {
			c := screen.Cell(x, y).Char
			if c == 0 {
				c = ' '
			}
			b.WriteRune(c)
		}
		lines = append(lines, strings.TrimRight(b.String(), " "))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

var progressRow = regexp.MustCompile(`^(running|stopped \d+%|failed \d+%|\d+%)`)

// frameField returns the number after label in a progress row ("paid:12",
// "paid 12/100", "cache hits 3"), or -1 when the row does not show it.
func frameField(row string, labels ...string) int64 {
	for _, l := range labels {
		re := regexp.MustCompile(regexp.QuoteMeta(l) + `[: ]([\d,]+)`)
		if m := re.FindStringSubmatch(row); m != nil {
			n, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
			return n
		}
	}
	return -1
}

// summaryField reads a number from the summary the run printed (from the
// bytes written, since a long summary line may wrap on a narrow screen).
func summaryField(t *testing.T, raw []byte, re string) int64 {
	t.Helper()
	text := string(raw[bytes.LastIndex(raw, []byte(clearLineSeq)):])
	m := regexp.MustCompile(re).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("summary %q not in the output:\n%s", re, text)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestProgressOnTerminal drives the binary on a pseudo-terminal at 80 and
// 40 columns through a run stopped by --max-calls, resumed and finished,
// and reads the screen through a terminal emulator.
func TestProgressOnTerminal(t *testing.T) {
	for _, cols := range []int{80, 40} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			em := startEmulator(t, sandbox.Options{Shape: sandbox.ShapeCurrent, Seed: 1, Latency: 2 * time.Millisecond})
			dir := t.TempDir()
			in := filepath.Join(dir, "in.csv")
			contactsCSV(t, in, 600, 7, 25, 3)
			out := filepath.Join(dir, "out.csv")
			args := []string{"run", "-i", in, "-o", out, "--verify", "--enrich-person", "-w", "4",
				"--cache", filepath.Join(dir, "cache.db")}
			screen := vt10x.New(vt10x.WithSize(cols, screenRows))

			code, raw1 := ttyRun(t, batchCmd(t, em.URL, append(args, "--max-calls", "150")...), cols, screen)
			if code != ExitResumable {
				t.Fatalf("first run: exit %d, want %d\n%s", code, ExitResumable, strings.Join(screenLines(screen), "\n"))
			}
			afterStop := len(screenLines(screen))
			code, raw2 := ttyRun(t, batchCmd(t, em.URL, args...), cols, screen)
			if code != 0 {
				t.Fatalf("resumed run: exit %d\n%s", code, strings.Join(screenLines(screen), "\n"))
			}
			lines := screenLines(screen)
			if len(lines) >= screenRows {
				t.Fatalf("the session filled the %d-row screen; the check would miss scrolled rows", screenRows)
			}
			t.Logf("screen at %d columns:\n%s", cols, strings.Join(lines, "\n"))

			// Every frame the binary drew fits the width (so none wrapped).
			for _, raw := range [][]byte{raw1, raw2} {
				for _, frame := range strings.Split(string(raw), clearLineSeq) {
					frame, _, _ = strings.Cut(frame, "\r")
					frame, _, _ = strings.Cut(frame, "\n")
					if progressRow.MatchString(frame) && displayWidth(frame) >= cols {
						t.Errorf("frame %d columns wide on a %d-column terminal: %q", displayWidth(frame), cols, frame)
					}
				}
			}
			// On screen: progress rows never reach the last column (a wrapped
			// row would), and log lines stand alone.
			var stopFrame, finalFrame string
			logs := 0
			for i, l := range lines {
				switch {
				case progressRow.MatchString(l):
					if displayWidth(l) >= cols {
						t.Errorf("row %d is a progress line filling the terminal (wrapped): %q", i, l)
					}
					if strings.Contains(l, "level=") || strings.Contains(l, "msg=") {
						t.Errorf("row %d mixes a log line into the progress line: %q", i, l)
					}
					if i < afterStop {
						stopFrame = l
					} else {
						finalFrame = l
					}
				case strings.Contains(l, "level="):
					logs++
					if !strings.HasPrefix(l, "time=") {
						t.Errorf("row %d: log line does not start its own line: %q", i, l)
					}
					if strings.Contains(l, "paid") && strings.Contains(l, "%") {
						t.Errorf("row %d: progress text inside a log line: %q", i, l)
					}
				}
			}
			if logs == 0 {
				t.Error("no log line on the screen (the stop and the resume each log one)")
			}
			if !strings.HasPrefix(stopFrame, "stopped ") || strings.Contains(stopFrame, "100%") {
				t.Errorf("stop frame %q: want \"stopped N%%\" below 100 %%", stopFrame)
			}
			if !strings.HasPrefix(finalFrame, "100%") {
				t.Errorf("final frame %q does not show 100 %%", finalFrame)
			}
			// The final frame's numbers are the summary's.
			rowsDone := summaryField(t, raw2, `(\d+) rows done`)
			if got := frameRowsDone(finalFrame); got != rowsDone {
				t.Errorf("final frame shows %d rows, the summary %d: %q", got, rowsDone, finalFrame)
			}
			checks := []struct {
				labels []string
				re     string
			}{
				{[]string{"paid"}, `(\d+) billed this run`},
				{[]string{"calls"}, `(\d+) made this run`},
				{[]string{"cache hits", "cache"}, `(\d+) cache hits`},
				{[]string{"dupes", "dup"}, `(\d+) duplicates answered once`},
				{[]string{"429s", "429"}, `(\d+) 429s`},
			}
			shown := 0
			for _, c := range checks {
				got := frameField(finalFrame, c.labels...)
				if got < 0 {
					continue // dropped at this width
				}
				shown++
				if want := summaryField(t, raw2, c.re); got != want {
					t.Errorf("final frame %v = %d, summary %d: %q", c.labels, got, want, finalFrame)
				}
			}
			if shown == 0 {
				t.Errorf("final frame %q shows none of paid, cache, dupes, 429s", finalFrame)
			}
		})
	}
}

// clearLineSeq starts every frame (carriage return, erase line).
const clearLineSeq = "\r\x1b[2K"

func frameRowsDone(frame string) int64 {
	// "100% |███| 1,234 rows …", "100% 1,234 in 2s …" or "100% 1,234 …".
	f := strings.Fields(strings.TrimSpace(frame[strings.LastIndex(frame, "%")+1:]))
	for _, w := range f {
		if strings.HasPrefix(w, "|") || strings.HasSuffix(w, "|") {
			continue
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(w, ",", ""), 10, 64)
		if err == nil {
			return n
		}
		return -1
	}
	return -1
}

func displayWidth(s string) int { return len([]rune(s)) }
