// Package sinktest is the conformance suite every pipeline.Sink runs, in
// the manner of go-cloud's blob/drivertest: a sink's test file describes
// its destination with a Target and calls Run, and the suite checks the
// resume contract the pipeline relies on. It is for tests only: import it
// from _test.go files.
//
// What Run checks, for a Target t:
//   - write, commit, close: every row is published once, in Write order;
//   - before Close nothing is published (t.Visibility == OnClose) or the
//     committed rows are (AtCommit);
//   - a reopen at every committed position (after more rows were written
//     past it and the sink was released, as a crash leaves it) followed by
//     the rest of the rows publishes every row exactly once, in order;
//   - the same after uncommitted rows large enough to leave any write
//     buffer (1 MiB in all) reached the destination's storage;
//   - replaying the same committed range several times changes nothing;
//   - Close publishes once: a second Close is a no-op, Write and Commit
//     after it fail, and reopening at the last position after Close (a run
//     that published but died before its ledger recorded the end) publishes
//     the same rows again, once;
//   - Release leaves nothing visible that was not committed, and nothing at
//     all for an OnClose target; a second Release is a no-op.
//
// To add a sink: write a Target whose Open opens the sink on one fixed
// destination (the same one on every call of one test) and whose Read
// returns the Email of each row visible there, in row order, then call Run
// from a test of the sink's package.
package sinktest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/contactbatch/batch/pipeline"
)

// Sink is the contract under test: a pipeline.Sink that can also be let go
// without publishing.
type Sink interface {
	pipeline.Sink
	// Release frees the sink's resources without committing or publishing
	// anything (what a crash or a stopped run leaves); the last committed
	// position stays valid for a reopen. Calling it again is a no-op.
	Release() error
}

// Visibility says when written rows become visible at a destination.
type Visibility int

const (
	// OnClose: nothing is visible until Close publishes (a file renamed into
	// place, an uploaded object).
	OnClose Visibility = iota
	// AtCommit: committed rows are visible at once (an upserted table). A
	// sink may also flush a full batch before Commit; the suite writes
	// fewer rows than a batch.
	AtCommit
	// AtWrite: rows are visible as they are written and cannot be taken
	// back (a stream such as stdout); a reader keeps the bytes up to the
	// last committed position, as the Target's Read models.
	AtWrite
)

// Target describes one sink and its destination for Run.
type Target struct {
	// Open opens the sink on the destination at pos ("" starts afresh).
	Open func(t *testing.T, pos pipeline.Position) Sink
	// Read returns the Email of every row visible at the destination, in
	// row order; nil when nothing is visible.
	Read func(t *testing.T) []string
	// Visibility says when rows become visible.
	Visibility Visibility
}

// Schema returns the schema of the suite's outputs.
func Schema() pipeline.Schema {
	return pipeline.Schema{
		Input:  []string{"email", "name", "company"},
		Result: []string{"verdict", "reason"},
		Types:  []pipeline.ColumnType{pipeline.TypeText, pipeline.TypeText},
	}
}

// Output returns the suite's row i: line i+2, distinct values with commas,
// quotes and a newline, its email in Values[0] and Email.
func Output(i int) *pipeline.Output {
	email := fmt.Sprintf("u%d@example.com", i)
	return &pipeline.Output{
		Seq:    int64(i),
		Line:   int64(i + 2),
		Origin: "in.csv",
		Email:  email,
		Values: []string{email, fmt.Sprintf("User, \"%d\"", i), "Acme\nInc"},
		Result: []string{"deliverable", ""},
	}
}

// Emails returns the emails of rows [from, to).
func Emails(from, to int) []string {
	out := []string{}
	for i := from; i < to; i++ {
		out = append(out, Output(i).Email)
	}
	return out
}

// rows is how many rows each case writes.
const rows = 6

// Run runs the suite; newTarget makes a Target over a fresh destination.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("WriteCommitClose", func(t *testing.T) { testWriteCommitClose(t, newTarget(t)) })
	t.Run("ReopenAtEveryPosition", func(t *testing.T) {
		for k := 0; k <= rows; k++ {
			t.Run(fmt.Sprint(k), func(t *testing.T) { testReopenAt(t, newTarget(t), k) })
		}
	})
	t.Run("ReopenAfterFlush", func(t *testing.T) { testReopenAfterFlush(t, newTarget(t)) })
	t.Run("Replay", func(t *testing.T) { testReplay(t, newTarget(t)) })
	t.Run("PublishOnce", func(t *testing.T) { testPublishOnce(t, newTarget(t)) })
	t.Run("Release", func(t *testing.T) { testRelease(t, newTarget(t)) })
}

func write(t *testing.T, s Sink, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Write(context.Background(), Output(i)); err != nil {
			t.Fatalf("Write(row %d) = %v", i, err)
		}
	}
}

func commit(t *testing.T, s Sink) pipeline.Position {
	t.Helper()
	pos, err := s.Commit(context.Background())
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	return pos
}

func closeSink(t *testing.T, s Sink) {
	t.Helper()
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

func release(t *testing.T, s Sink) {
	t.Helper()
	if err := s.Release(); err != nil {
		t.Fatalf("Release() = %v", err)
	}
}

func check(t *testing.T, tg Target, what string, want []string) {
	t.Helper()
	got := tg.Read(t)
	if got == nil {
		got = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: visible rows %q, want %q", what, got, want)
	}
}

// visibleAfterCommit is what a reader sees once rows [0, n) are committed
// and before Close.
func visibleAfterCommit(tg Target, n int) []string {
	if tg.Visibility == OnClose {
		return []string{}
	}
	return Emails(0, n)
}

func testWriteCommitClose(t *testing.T, tg Target) {
	s := tg.Open(t, "")
	write(t, s, 0, rows)
	p1 := commit(t, s)
	if p2 := commit(t, s); p2 != p1 {
		t.Errorf("Commit() with nothing new = %q, want the same position %q", p2, p1)
	}
	check(t, tg, "after Commit", visibleAfterCommit(tg, rows))
	closeSink(t, s)
	check(t, tg, "after Close", Emails(0, rows))
}

// testReopenAt commits after each of the first k rows, writes two more past
// the last commit, lets the sink go as a crash would, then reopens at the
// last position and writes the rest.
func testReopenAt(t *testing.T, tg Target, k int) {
	s := tg.Open(t, "")
	pos := commit(t, s)
	for i := range k {
		write(t, s, i, i+1)
		pos = commit(t, s)
	}
	write(t, s, k, min(k+2, rows))
	release(t, s)
	if tg.Visibility != AtWrite {
		check(t, tg, "after the crash", visibleAfterCommit(tg, k))
	}

	s = tg.Open(t, pos)
	write(t, s, k, rows)
	closeSink(t, s)
	check(t, tg, fmt.Sprintf("after resuming at row %d (position %q)", k, pos), Emails(0, rows))
}

// testReopenAfterFlush writes 1 MiB past the last commit, so that the
// uncommitted rows leave the sink's buffers, before the crash.
func testReopenAfterFlush(t *testing.T, tg Target) {
	s := tg.Open(t, "")
	write(t, s, 0, 2)
	pos := commit(t, s)
	big := strings.Repeat("x", 256<<10)
	for i := 2; i < rows; i++ {
		o := Output(i)
		o.Values[2] = big
		if err := s.Write(context.Background(), o); err != nil {
			t.Fatalf("Write(row %d) = %v", i, err)
		}
	}
	release(t, s)
	s = tg.Open(t, pos)
	write(t, s, 2, rows)
	closeSink(t, s)
	check(t, tg, "after resuming past flushed rows", Emails(0, rows))
}

func testReplay(t *testing.T, tg Target) {
	s := tg.Open(t, "")
	write(t, s, 0, 2)
	pos := commit(t, s)
	write(t, s, 2, 4)
	commit(t, s)
	release(t, s)
	for range 3 {
		s = tg.Open(t, pos)
		write(t, s, 2, 4)
		commit(t, s)
		release(t, s)
	}
	s = tg.Open(t, pos)
	write(t, s, 2, rows)
	closeSink(t, s)
	check(t, tg, "after three replays", Emails(0, rows))
}

func testPublishOnce(t *testing.T, tg Target) {
	ctx := context.Background()
	s := tg.Open(t, "")
	write(t, s, 0, rows)
	pos := commit(t, s)
	closeSink(t, s)
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if err := s.Write(ctx, Output(rows)); err == nil {
		t.Error("Write after Close = nil, want an error")
	}
	if _, err := s.Commit(ctx); err == nil {
		t.Error("Commit after Close = nil, want an error")
	}
	check(t, tg, "after two Closes", Emails(0, rows))

	// Published, but the ledger did not record the end: the rerun reopens
	// at the last position and publishes the same rows once.
	s = tg.Open(t, pos)
	closeSink(t, s)
	check(t, tg, "after a reopen at the last position and Close", Emails(0, rows))
}

func testRelease(t *testing.T, tg Target) {
	s := tg.Open(t, "")
	write(t, s, 0, 3)
	commit(t, s)
	write(t, s, 3, rows)
	release(t, s)
	release(t, s)
	if tg.Visibility != AtWrite { // a stream shows what was written
		check(t, tg, "after Release", visibleAfterCommit(tg, 3))
	}
}
