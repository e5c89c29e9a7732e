// Package sqlsink writes a run's outputs to a SQLite or PostgreSQL table
// with idempotent upserts, so that rows replayed after a resume overwrite
// themselves instead of duplicating.
//
// The table is created and versioned by batch itself. Besides one typed
// column per result column (TEXT, BIGINT, BOOLEAN) it holds job_id, row_seq,
// line, origin, email, input (the input row as a JSON object whose keys are
// the input header names in input order), raw (the raw API responses as a
// JSON object by stage), created_at and updated_at. Input header names are
// never spliced into SQL: they only live inside the input JSON value.
//
// Text handling: PostgreSQL rejects invalid UTF-8 and NUL bytes, so for
// PostgreSQL every text value is sanitized (invalid bytes become U+FFFD,
// NUL bytes are dropped). SQLite stores text values as they are. JSON
// values are always valid JSON: invalid UTF-8 inside the input JSON becomes
// U+FFFD for both backends, and NUL is kept as \u0000 in SQLite.
package sqlsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/contactbatch/batch/internal/defaults"
	"github.com/contactbatch/batch/internal/redact"
	"github.com/contactbatch/batch/pipeline"
)

// Upsert keys.
const (
	// UpsertRow keys rows by (job_id, row_seq): one table row per input row
	// of each job.
	UpsertRow = "row"
	// UpsertEmail keys rows by email: one table row per contact, which later
	// writes (later rows, later jobs) overwrite. Rows without an email are
	// kept, keyed by (job_id, row_seq).
	UpsertEmail = "email"
)

// Defaults for Options.
const (
	DefaultTable     = "contacts"             // Options.Table
	DefaultBatchRows = 1000                   // Options.BatchRows
	DefaultRetries   = 5                      // Options.Retries
	DefaultRetryWait = 200 * time.Millisecond // Options.RetryWait
)

// SchemaVersion is the version of the table layout this package writes. A
// table recorded with a higher version is refused.
const SchemaVersion = 1

// Errors returned by Open.
var (
	// ErrNewerSchema means the table was created by a newer batch.
	ErrNewerSchema = errors.New("table was created by a newer version of batch")
	// ErrForeignTable means a table of that name exists but batch did not
	// create it, or created it with another upsert key or column type.
	ErrForeignTable = errors.New("table exists and does not match this run")
	// ErrBadOptions means the options or the URL are invalid.
	ErrBadOptions = errors.New("sqlsink: invalid options")
)

// Options configures a Sink. Zero fields take the documented defaults.
type Options struct {
	// Table is the table name (DefaultTable). It must be a plain identifier:
	// an ASCII letter or underscore, then letters, digits or underscores, at
	// most 50 bytes, not starting with "sqlite_" nor "batch_". It is always
	// quoted, so PostgreSQL keeps its case.
	Table string
	// UpsertKey is UpsertRow (default) or UpsertEmail. A table keeps the key
	// it was created with; opening it with another key is refused.
	UpsertKey string
	// JobID identifies the run; required.
	JobID string
	// Schema gives the input column names (stored inside the input JSON) and
	// the result columns with their types (one table column each). Result
	// names must be lower-case snake_case ASCII of at most 63 bytes and must
	// not be one of the fixed column names.
	Schema pipeline.Schema
	// BatchRows is the number of rows per database transaction
	// (DefaultBatchRows). Write flushes a full batch on its own.
	BatchRows int
	// Retries bounds how many times a batch transaction is retried after a
	// connection error (DefaultRetries); negative means none.
	Retries int
	// RetryWait is the first backoff interval between retries
	// (DefaultRetryWait); it grows exponentially with jitter.
	RetryWait time.Duration
	// Logger receives retry warnings and schema changes (nil: discard).
	Logger *slog.Logger
}

// Sink is a pipeline.Sink over a SQL table. It is not safe for concurrent
// use: the pipeline calls it from one goroutine.
type Sink struct {
	opts      Options
	be        backend
	enc       encoder
	buf       []row
	committed int64
	closed    bool
}

var _ pipeline.Sink = (*Sink)(nil)

// Open connects to the database named by rawURL, creates or checks the
// table and returns a Sink that continues counting from pos (a resume; ""
// is a fresh start). Nothing is truncated on resume: rows written again
// are upserts.
//
// rawURL is sqlite://path (relative, e.g. sqlite://out/run.db, or absolute,
// sqlite:///var/run.db; everything after "sqlite://" is the file path) or a
// postgres:// or postgresql:// connection URL as pgx accepts it.
func Open(ctx context.Context, rawURL string, opts Options, pos pipeline.Position) (*Sink, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	start, err := parsePosition(pos)
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(opts)
	if err != nil {
		return nil, err
	}
	var be backend
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		be, err = openSQLite(ctx, strings.TrimPrefix(rawURL, "sqlite://"), lay, opts)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		be, err = openPostgres(ctx, rawURL, lay, opts)
	default:
		return nil, fmt.Errorf("%w: url %q: want sqlite://, postgres:// or postgresql://", ErrBadOptions, redact.URL(rawURL))
	}
	if err != nil {
		return nil, err
	}
	return &Sink{
		opts:      opts,
		be:        be,
		enc:       newEncoder(opts.JobID, opts.Schema.Input, be.sanitizes()),
		buf:       make([]row, 0, opts.BatchRows),
		committed: start,
	}, nil
}

// setDefaults fills the unset fields with their defaults (see
// internal/defaults), then checks the options.
func (o *Options) setDefaults() error {
	o.Table = defaults.Or(o.Table, DefaultTable)
	o.UpsertKey = defaults.Or(o.UpsertKey, UpsertRow)
	o.BatchRows = defaults.Or(o.BatchRows, DefaultBatchRows)
	if o.Retries == 0 { // negative means none
		o.Retries = DefaultRetries
	}
	o.RetryWait = defaults.Or(o.RetryWait, DefaultRetryWait)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UpsertKey != UpsertRow && o.UpsertKey != UpsertEmail {
		return fmt.Errorf("%w: upsert key %q: want %q or %q", ErrBadOptions, o.UpsertKey, UpsertRow, UpsertEmail)
	}
	if o.JobID == "" {
		return fmt.Errorf("%w: job id is required", ErrBadOptions)
	}
	if len(o.Schema.Types) != len(o.Schema.Result) {
		return fmt.Errorf("%w: schema has %d result columns and %d types", ErrBadOptions, len(o.Schema.Result), len(o.Schema.Types))
	}
	return checkTable(o.Table)
}

func parsePosition(pos pipeline.Position) (int64, error) {
	if pos == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(pos), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: position %q is not a row count", ErrBadOptions, pos)
	}
	return n, nil
}

// Write buffers out and writes a full batch in one transaction. The row's
// values must match Schema: len(Values) == len(Schema.Input) and
// len(Result) == len(Schema.Result); typed result values must be "" (NULL),
// "true"/"false" for bool columns and base-10 integers for int columns.
func (s *Sink) Write(ctx context.Context, out *pipeline.Output) error {
	if s.closed {
		return errors.New("sqlsink: write after close")
	}
	r, err := s.enc.row(out, s.opts.Schema)
	if err != nil {
		return fmt.Errorf("sqlsink: row %d (line %d): %w", out.Seq, out.Line, err)
	}
	s.buf = append(s.buf, r)
	if len(s.buf) >= s.opts.BatchRows {
		return s.flush(ctx)
	}
	return nil
}

// Commit writes every buffered row and returns the number of rows written
// so far (counting from the position Open was given) as a decimal string.
func (s *Sink) Commit(ctx context.Context) (pipeline.Position, error) {
	if s.closed {
		return "", errors.New("sqlsink: commit after close")
	}
	if err := s.flush(ctx); err != nil {
		return "", err
	}
	return pipeline.Position(strconv.FormatInt(s.committed, 10)), nil
}

// Close commits and closes the database connection. It is safe to call
// more than once; later calls do nothing.
func (s *Sink) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	_, err := s.Commit(ctx)
	s.closed = true
	return errors.Join(err, s.be.close())
}

// Release closes the database connections of a run that stopped before
// the end, without writing rows buffered since the last Commit (a resume
// writes them again). It is safe after Close.
func (s *Sink) Release() error {
	if s.closed {
		return nil
	}
	s.closed = true
	clear(s.buf)
	s.buf = s.buf[:0]
	return s.be.close()
}

func (s *Sink) flush(ctx context.Context) error {
	if len(s.buf) == 0 {
		return nil
	}
	rows := dedupe(s.buf, s.opts.UpsertKey)
	if err := withRetry(ctx, s.opts, s.be.retryable, func() error { return s.be.flush(ctx, rows) }); err != nil {
		return fmt.Errorf("sqlsink: write %d rows to %s: %w", len(s.buf), s.opts.Table, err)
	}
	s.committed += int64(len(s.buf))
	clear(s.buf)
	s.buf = s.buf[:0]
	return nil
}

// dedupe keeps the last row of each upsert key, in order: PostgreSQL
// refuses to upsert the same key twice in one statement.
func dedupe(rows []row, key string) []row {
	seen := make(map[string]int, len(rows))
	for i := range rows {
		seen[rows[i].key(key)] = i
	}
	if len(seen) == len(rows) {
		return rows
	}
	out := make([]row, 0, len(seen))
	for i := range rows {
		if seen[rows[i].key(key)] == i {
			out = append(out, rows[i])
		}
	}
	return out
}
