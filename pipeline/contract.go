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

// Source yields rows in a stable order. Next returns io.EOF after the last
// row and a *RowError for a malformed row it skipped. Next is called from a
// single goroutine.
type Source interface {
	// Header returns the input column names in input order.
	Header() []string
	Next(ctx context.Context) (Row, error)
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
// Write may buffer. Commit makes everything written so far durable and
// returns the position to resume from; after a crash the sink is reopened
// at the last position the ledger recorded, and every row written after it
// is written again, so sinks must drop or overwrite anything past that
// position (truncate a file, upsert a table). Close commits and publishes
// the final result (rename, upload); it is called once, only when the run
// finished every row.
type Sink interface {
	Write(ctx context.Context, out *Output) error
	Commit(ctx context.Context) (Position, error)
	Close(ctx context.Context) error
}

// Reject is an input row that could not be processed.
type Reject struct {
	Seq    int64
	Line   int64
	Origin string
	Reason string
	Raw    string
}

// RejectSink stores rejects with the same commit contract as Sink.
type RejectSink interface {
	WriteReject(ctx context.Context, r *Reject) error
	Commit(ctx context.Context) (Position, error)
	Close(ctx context.Context) error
}
