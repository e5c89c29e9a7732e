// Package filesink writes a run's output to a CSV or JSONL file and its
// rejects to a CSV file, with truncate-and-continue resume.
//
// While a run is going, rows go to <path>.partial in the same directory.
// Commit flushes and fsyncs it and returns its length as the position;
// opening at that position after a crash truncates whatever was written
// after it and continues, so the file holds every row exactly once. Close
// publishes the file atomically (fsync, rename to path, fsync the
// directory): a reader of path never sees a partial file, and an earlier
// file at path stays untouched until then.
//
// The path "-" is stdout. A stream cannot be truncated, so a resumed run
// writing to stdout repeats the rows written after the last commit (and,
// for CSV, the header): exactly-once holds only for files.
package filesink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/contactbatch/batch/internal/defaults"
	"github.com/contactbatch/batch/pipeline"
)

// DefaultMode is the permission of a new output file: contacts' data is
// personal, so only its owner may read it.
const DefaultMode os.FileMode = 0o600

// ErrSchemaMismatch is returned by Write when an output's values do not
// match the schema's columns.
var ErrSchemaMismatch = errors.New("output does not match the schema")

// Options configures an output file.
type Options struct {
	// Format is CSV (the zero value) or JSONL; see FormatFor.
	Format Format
	// Schema names the input and result columns of every output.
	Schema pipeline.Schema
	// EscapeFormulas prefixes CSV cells starting with = + - @ TAB CR LF with
	// a single quote so spreadsheets do not run them (OWASP CSV injection).
	// Header cells are escaped too; JSONL is never escaped. DefaultOptions
	// sets it.
	EscapeFormulas bool
	// Sync fsyncs the file on Commit and the directory on Close.
	// DefaultOptions sets it.
	Sync bool
	// BOM starts a CSV output with a UTF-8 byte order mark (Excel reads
	// the file as UTF-8 then).
	BOM bool
	// CRLF ends CSV records with "\r\n" instead of "\n" (values are
	// written as they are either way).
	CRLF bool
	// Mode is the permission of a freshly started partial file, set
	// exactly (the umask does not apply); a resumed partial file keeps its
	// mode. 0 means DefaultMode,
	// which DefaultOptions sets.
	Mode os.FileMode
}

// DefaultOptions returns Options with the documented defaults (CSV, formula
// escaping, fsync, DefaultMode). The caller sets Format and Schema. The zero
// Options turn escaping and fsync off, since false is their zero value (see
// internal/defaults); only Mode's zero means its default.
func DefaultOptions() Options {
	return Options{Format: CSV, EscapeFormulas: true, Sync: true, Mode: DefaultMode}
}

// Sink writes outputs to a CSV or JSONL file. Write, Commit, Close and
// Release are called from one goroutine; Rows is safe from any.
type Sink struct {
	out    *output
	format Format
	schema pipeline.Schema
	csv    *csvEncoder
	json   *jsonEncoder
	rows   atomic.Int64
}

var _ pipeline.Sink = (*Sink)(nil)

// Open opens the output at path for writing at pos, a position returned by
// an earlier Commit ("" starts fresh). Fresh, it creates or truncates
// path+PartialSuffix and writes the CSV header, leaving any file at path
// alone until Close. At pos "N" it truncates the existing partial file to
// N bytes and appends; a partial file that is missing or shorter than N is
// an error wrapping ErrPositionMismatch, except that a missing partial file
// is recovered from path when a previous Close published it (path at least
// N bytes long, with the same header): path is renamed back to the partial
// file and truncated to N. The path "-" writes to stdout (see the package
// comment).
func Open(path string, opts Options, pos pipeline.Position) (*Sink, error) {
	s, header, err := newSink(opts)
	if err != nil {
		return nil, fmt.Errorf("filesink: open %s: %w", path, err)
	}
	if path == "-" {
		s.out, err = openStream(os.Stdout, pos)
	} else {
		mode := defaults.Or(opts.Mode, DefaultMode)
		magic := header
		if opts.Format == JSONL {
			magic = []byte(`{"line":`)
		}
		s.out, err = openFile(path, pos, mode, opts.Sync, header, magic)
	}
	if err != nil {
		return nil, err
	}
	return s.start(header, opts.EscapeFormulas, opts.CRLF)
}

// OpenWriter returns a Sink writing to w, with the stdout rules: no
// partial file, Commit flushes (never fsyncs), Close flushes and does not
// close w, and the position counts bytes from pos.
func OpenWriter(w io.Writer, opts Options, pos pipeline.Position) (*Sink, error) {
	s, header, err := newSink(opts)
	if err != nil {
		return nil, fmt.Errorf("filesink: open stream: %w", err)
	}
	if s.out, err = openStream(w, pos); err != nil {
		return nil, fmt.Errorf("filesink: open stream: %w", err)
	}
	return s.start(header, opts.EscapeFormulas, opts.CRLF)
}

func newSink(opts Options) (*Sink, []byte, error) {
	s := &Sink{format: opts.Format, schema: opts.Schema}
	switch opts.Format {
	case CSV:
		if len(opts.Schema.Input)+len(opts.Schema.Result) == 0 {
			return nil, nil, errors.New("schema has no columns")
		}
		header, err := csvHeader(append(append([]string(nil), opts.Schema.Input...), opts.Schema.Result...), opts.EscapeFormulas, opts.BOM, opts.CRLF)
		return s, header, err
	case JSONL:
		return s, nil, nil
	}
	return nil, nil, fmt.Errorf("format %v: %w", opts.Format, ErrUnsupportedFormat)
}

// start sets up the encoder and writes the header of a fresh output.
func (s *Sink) start(header []byte, escape, crlf bool) (*Sink, error) {
	switch s.format {
	case CSV:
		s.csv = newCSVEncoder(s.out.bw, escape, crlf)
	case JSONL:
		s.json = newJSONEncoder(s.schema.Input, s.schema.Result)
	}
	if s.out.fresh && len(header) > 0 {
		if _, err := s.out.bw.Write(header); err != nil {
			s.out.release()
			return nil, fmt.Errorf("filesink: write %s: %w", s.out.name(), err)
		}
	}
	return s, nil
}

// Write buffers one output row. Values and Result must have one value per
// Schema.Input and Schema.Result column (else ErrSchemaMismatch).
func (s *Sink) Write(ctx context.Context, out *pipeline.Output) error {
	if s.out.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(out.Values) != len(s.schema.Input) || len(out.Result) != len(s.schema.Result) {
		return fmt.Errorf("filesink: line %d: %d input and %d result values for %d and %d columns: %w",
			out.Line, len(out.Values), len(out.Result), len(s.schema.Input), len(s.schema.Result), ErrSchemaMismatch)
	}
	var err error
	if s.csv != nil {
		err = s.csv.write(out.Values, out.Result)
	} else {
		var b []byte
		if b, err = s.json.line(out.Line, out.Values, out.Result, out.Nested); err != nil {
			return fmt.Errorf("filesink: line %d: %w", out.Line, err)
		}
		_, err = s.out.bw.Write(b)
	}
	if err != nil {
		return fmt.Errorf("filesink: write %s: %w", s.out.name(), err)
	}
	s.rows.Add(1)
	return nil
}

// Commit flushes the buffered rows, fsyncs the partial file (if Sync) and
// returns its length as the position to resume from.
func (s *Sink) Commit(ctx context.Context) (pipeline.Position, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return s.out.commit()
}

// Close commits and publishes the output: the partial file is renamed to
// the path and the directory fsynced (if Sync). It is called once, when
// every row is written; a second call returns nil.
func (s *Sink) Close(ctx context.Context) error {
	return s.out.close()
}

// Release closes the partial file without publishing it, leaving it for a
// resume; rows written after the last Commit may or may not be in it (a
// resume truncates them). Use it when a run stops before the end. On a
// stream it flushes. Release after Close is a no-op.
func (s *Sink) Release() error {
	return s.out.release()
}

// Rows returns the number of rows written since Open, committed or not;
// rows before the resume position are not counted.
func (s *Sink) Rows() int64 {
	return s.rows.Load()
}
