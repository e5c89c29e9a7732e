//go:build linux || darwin

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// feedFIFO opens the named pipe path for writing (waiting for the reader),
// writes data and, unless hold is set, closes it. With hold it returns the
// open pipe's closer, to end the stream later.
func feedFIFO(t *testing.T, path string, data []byte, hold bool) (done <-chan func()) {
	ch := make(chan func(), 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			ch <- func() {}
			return
		}
		if _, err := f.Write(data); err != nil {
			t.Errorf("write %s: %v", path, err)
		}
		if !hold {
			f.Close()
			ch <- func() {}
			return
		}
		ch <- func() { f.Close() }
	}()
	return ch
}

// waitExit waits for cmd; a run still going after limit (far beyond what
// the step needs) is killed and the test fails: it hung.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, errb *bytes.Buffer, what string) int {
	t.Helper()
	var hung atomic.Bool
	timer := time.AfterFunc(limit, func() { hung.Store(true); cmd.Process.Kill() })
	code := exitStatus(t, cmd.Wait())
	timer.Stop()
	if hung.Load() {
		t.Fatalf("%s: still running after %s, killed\n%s", what, limit, errb.String())
	}
	return code
}

// Finding 17.9 (FIFO): a named pipe as --input is read once, like stdin
// (it was opened for the fingerprint, again to sniff the dialect and again
// to read, and hung waiting for a second writer); the first SIGTERM stops
// a run waiting for the pipe's writer or for more data (exit 3), and the
// same command with the same data piped in again finishes with the output
// of a run over a regular file.
func TestFIFOInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "in.csv")
	unique := contactsCSV(t, file, 3000, 0, 0, 95)
	data := readFile(t, file)
	if len(data) < 2*stdinHead {
		t.Fatalf("input of %d bytes: want more than the %d-byte head", len(data), stdinHead)
	}
	fifo := filepath.Join(dir, "in.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	em := startEmulator(t, sandbox.DefaultOptions())
	args := func(in, out string) []string {
		return []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none"}
	}
	refOut := filepath.Join(dir, "ref.csv")
	mustRun(t, em.URL, args(file, refOut)...)
	em.Reset()

	start := func(out string) (*exec.Cmd, *bytes.Buffer) {
		cmd := batchCmd(t, em.URL, args(fifo, out)...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &errb
	}

	t.Run("read once", func(t *testing.T) {
		out := filepath.Join(dir, "once.csv")
		fed := feedFIFO(t, fifo, data, false)
		cmd, errb := start(out)
		if code := waitExit(t, cmd, 2*time.Minute, errb, "a run over a named pipe"); code != 0 {
			t.Fatalf("exit %d, want 0\n%s", code, errb)
		}
		<-fed
		if !bytes.Equal(readFile(t, out), readFile(t, refOut)) {
			t.Error("the output from the named pipe differs from the output from the file")
		}
		if n := em.requests(sandbox.EpVerify); n != int64(unique) {
			t.Errorf("verify calls = %d, want %d", n, unique)
		}
	})

	t.Run("SIGTERM waiting for the writer", func(t *testing.T) {
		out := filepath.Join(dir, "nowriter.csv")
		cmd, errb := start(out)
		// The state directory is made after the signal handler is set and
		// before the input is opened.
		for {
			if _, err := os.Stat(out + ".state"); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if code := waitExit(t, cmd, time.Minute, errb, "SIGTERM while waiting for the writer"); code != ExitResumable {
			t.Errorf("exit %d, want %d\n%s", code, ExitResumable, errb)
		}
	})

	t.Run("SIGTERM with the pipe open and no more data, then again", func(t *testing.T) {
		em.Reset()
		out := filepath.Join(dir, "again.csv")
		// Two thirds of the rows, and the writer keeps the pipe open: the
		// run reads them and waits for more.
		part := data[:bytes.LastIndexByte(data[:len(data)*2/3], '\n')+1]
		fed := feedFIFO(t, fifo, part, true)
		cmd, errb := start(out)
		// The write returns once the run has read all but what the pipe
		// buffers: it is reading, and then waiting for more.
		closeWriter := <-fed
		cmd.Process.Signal(syscall.SIGTERM)
		code := waitExit(t, cmd, time.Minute, errb, "SIGTERM while the pipe is open with no more data")
		closeWriter()
		if code != ExitResumable {
			t.Fatalf("exit %d, want %d\n%s", code, ExitResumable, errb)
		}
		fed = feedFIFO(t, fifo, data, false)
		cmd, errb = start(out)
		if code := waitExit(t, cmd, 2*time.Minute, errb, "the resumed run"); code != 0 {
			t.Fatalf("resume: exit %d, want 0\n%s", code, errb)
		}
		<-fed
		if !bytes.Equal(readFile(t, out), readFile(t, refOut)) {
			t.Error("the output after the stop and the rerun differs from the output from the file")
		}
		if rep := em.repeated(); rep > 16 {
			t.Errorf("%d verify calls billed twice, want <= 16 (the calls in flight)", rep)
		}
	})
}
