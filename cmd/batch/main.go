// Command batch cleans and enriches contact lists in bulk through the
// CustomerOS Enrichment and Verify APIs, resumably.
//
// Usage:
//
//	batch run --input contacts.csv --output verified.csv --verify
//	batch estimate -i contacts.csv --verify --enrich-org  # what a run would pay for; no API calls
//	batch status --state verified.csv.state               # progress of a job
//	batch sandbox --addr 127.0.0.1:8080                   # the API emulator
//
// `batch --help` and `batch <command> --help` list every flag; the README
// describes the inputs, outputs, exit codes and how resume works.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
)

// Exit codes.
const (
	ExitOK        = 0 // the job is done
	ExitFailed    = 1 // the run failed (state stays consistent)
	ExitUsage     = 2 // bad usage or input
	ExitResumable = 3 // stopped before the end: interrupted, credits exhausted, auth failure, budget, API outage; rerun to resume
	ExitRetryable = 4 // finished, but some rows are retryable (error or pending); rerun to retry them
)

// GC settings unless GOGC / GOMEMLIMIT say otherwise: fewer collections of
// a small, churning heap, and a soft memory limit that bounds a large job's
// heap (past it the GC works harder; nothing fails). The figures behind
// them are in docs/DESIGN.md.
const (
	defaultGCPercent   = 200
	defaultMemoryLimit = 96 << 20
)

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

func main() {
	tuneGC(os.Getenv)
	ctx, cancel := context.WithCancelCause(context.Background())
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		m.notice(fmt.Sprintf("%s: finishing in-flight calls and committing (again to quit at once)", s))
		cancel(fmt.Errorf("signal %s", s))
		s = <-sigs
		m.notice(fmt.Sprintf("%s again: exiting now; state on disk is consistent", s))
		os.Exit(ExitResumable)
	}()
	code := m.Run(ctx, os.Args[1:])
	cancel(nil)
	os.Exit(code)
}

// Main is the program with its environment injected, so tests can run it.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string

	jsonLog atomic.Bool // --log-format json was given: notices are JSON too
}

// notice prints a message outside the logger (from the signal handler) on
// a line of its own, as JSON under --log-format json.
func (m *Main) notice(msg string) {
	if m.jsonLog.Load() {
		b, _ := json.Marshal(map[string]string{"time": time.Now().Format(time.RFC3339Nano), "level": "WARN", "msg": msg})
		fmt.Fprintf(m.Stderr, "%s\n", b)
		return
	}
	fmt.Fprintf(m.Stderr, "\nbatch: %s\n", msg)
}

// usageError marks an error as bad usage or bad input (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}
