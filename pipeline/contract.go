// Package pipeline holds the record flow of a batch run: the contracts that
// sources and sinks implement, the stage runner and pacing. The lookup
// engine (dedupe, resolvers, bulk jobs, polls) is in package lookup.
package pipeline

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/contactbatch/batch/contact"
)

// Row is one data row as a Source read it.
type Row struct {
	// Values holds one value per input column, in input column order.
	Values []string
	// Line is the 1-based physical line where the row starts in its input
	// object (the header is line 1). Quoted newlines count.
	Line int64
	// Origin names the file or object the row came from ("-" for stdin).
	Origin string
	// Cursor is the opaque source position just after this row: opening the
	// same source at Cursor resumes with the next row.
	Cursor string
	// Contact holds the row's mapped contact fields, not yet normalized.
	Contact contact.Contact
}

// RowError is returned by Source.Next for a row that cannot be read
// (ragged, bad quotes, invalid UTF-8, NUL, oversize). The source has moved
// past it: the caller records a reject and calls Next again.
type RowError struct {
	Line   int64
	Origin string
	Reason string
	// Raw is the row's text as far as it could be recovered (may be empty).
	Raw    string
	Cursor string
}

func (e *RowError) Error() string {
	return e.Origin + ": line " + strconv.FormatInt(e.Line, 10) + ": " + e.Reason
}

// Source yields rows in a stable order: opened again at a Row's Cursor it
// yields the rows after that one, the same rows every time. The runner
// calls Next from a single goroutine, and Header and Close from the one
// that runs it.
type Source interface {
	// Header returns the input column names in input order. It does no
	// I/O and returns the same names on every call.
	Header() []string
	// Next returns the next row. After the last row it returns io.EOF, and
	// keeps returning it. A row that cannot be read (ragged, bad quotes,
	// invalid UTF-8, oversize) is a *RowError: the source has moved past
	// it, and the caller records a reject and calls Next again. Any other
	// error ends the run. Next checks ctx before it reads, but a read
	// blocked on a stream that sends nothing (stdin) may not return when
	// ctx ends.
	Next(ctx context.Context) (Row, error)
	// Close releases the input (it does not close os.Stdin). It is called
	// once, after the last Next.
	Close() error
}

// Position is a sink's opaque commit position, stored in the ledger with
// each commit and handed back to the sink's constructor on resume.
type Position string

// Output is what a sink writes for one accepted input row.
type Output struct {
	// Seq is the 0-based index of the row among all rows read (accepted or
	// rejected), stable across resumes.
	Seq int64
	// Line is the row's physical line in its input.
	Line int64
	// Origin is the input file or object name.
	Origin string
	// Values are the input values, in Schema.Input order.
	Values []string
	// Result holds the result column values, in Schema.Result order.
	Result []string
	// Nested holds the structured results for JSON-shaped sinks, in order:
	// e.g. {"email", …}, {"person", …}, {"organization", …}.
	Nested []Field
	// Raw holds the raw API response bodies by stage name ("verification",
	// "person", "organization") for sinks that keep them.
	Raw []Field
	// Email is the normalized email ("" when there is none), the key for
	// sinks that upsert by contact.
	Email string
}

// Field is a named JSON value.
type Field struct {
	Name  string
	Value json.RawMessage
}

// Schema names the columns every Output carries.
type Schema struct {
	// Input are the input column names, in input order.
	Input []string
	// Result are the result column names appended after the input columns.
	Result []string
	// Types gives the value type of each Result column, for typed sinks.
	Types []ColumnType
}

// ColumnType is the type of a result column's values. Values are always
// carried as strings; "" means no value (NULL in a database).
type ColumnType string

// Column types.
const (
	TypeText ColumnType = "text"
	TypeInt  ColumnType = "int"
	TypeBool ColumnType = "bool" // "true" or "false"
)

// Sink stores outputs durably, in the order Write is called (input order).
//
// A sink is opened at a Position (empty for a new job): after a crash it
// is reopened at the last position the ledger recorded, and every row
// written after that position is written again, so a sink drops or
// overwrites anything past it (truncate a file, upsert a table). Write,
// Commit and Close are called from one goroutine (the run's writer);
// Release is called by the same caller after the run returns. A sink need
// not be safe for concurrent use.
type Sink interface {
	// Write appends out, the next row in input order (Seq increases;
	// rejected rows leave gaps). It may buffer: nothing is durable, and
	// nothing need be visible, until Commit returns. The sink may keep out;
	// the runner does not reuse it. An error ends the run.
	Write(ctx context.Context, out *Output) error
	// Commit makes everything written so far durable (it survives a crash
	// once Commit returns nil) and returns the position to resume from.
	// With nothing written since the last Commit it returns the same
	// position again. Committed rows may already be visible (a database
	// table) or not until Close (a file, an object).
	Commit(ctx context.Context) (Position, error)
	// Close commits and publishes the result (rename into place, upload).
	// It is called once, only when the run finished every row; after it
	// returns nil the output is complete and final.
	Close(ctx context.Context) error
	// Release frees the sink's resources without committing or publishing
	// anything, as a crash would leave it: the last committed position
	// stays valid for a reopen. It is called when a run stops or fails; it
	// is a no-op after Close, and calling it again is a no-op.
	Release() error
}

// Reject is an input row that could not be processed.
type Reject struct {
	Seq    int64
	Line   int64
	Origin string
	Reason string
	Raw    string
}

// RejectSink stores rejects with the same contract as Sink: opened at a
// Position, rows past it written again after a crash, one goroutine.
type RejectSink interface {
	// WriteReject appends r, the next rejected row in input order. It may
	// buffer until Commit. An error ends the run.
	WriteReject(ctx context.Context, r *Reject) error
	// Commit makes every reject written so far durable and returns the
	// position to resume from, as Sink.Commit.
	Commit(ctx context.Context) (Position, error)
	// Close commits and publishes the rejects, once, when the run finished
	// every row.
	Close(ctx context.Context) error
	// Release frees the resources without publishing, as Sink.Release; a
	// no-op after Close or when called again.
	Release() error
}
