package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/gcerrors"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/netfail"
	"github.com/contactbatch/batch/internal/redact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
	"github.com/contactbatch/batch/sinks/s3sink"
	"github.com/contactbatch/batch/sinks/sqlsink"
	"github.com/contactbatch/batch/sinks/xlsxsink"
	"github.com/contactbatch/batch/sources/csvsource"
	"github.com/contactbatch/batch/sources/s3source"
	"github.com/contactbatch/batch/sources/xlsxsource"
)

// source is what the commands need from an input.
type source interface {
	pipeline.Source
	Mapping() contact.Mapping
}

// fingerprint identifies the input for resume. For stdin it reads the head
// of the stream and returns a reader that replays it, to read from instead.
func fingerprint(ctx context.Context, input string, stdin io.Reader) (string, io.Reader, error) {
	switch {
	case readsLikeStdin(input):
		head := make([]byte, stdinHead)
		n, err := io.ReadFull(stdin, head)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return "", nil, fmt.Errorf("read %s: %w", streamName(input), err)
		}
		sum := sha256.Sum256(head[:n])
		return "stdin head=" + hex.EncodeToString(sum[:]), io.MultiReader(bytes.NewReader(head[:n]), stdin), nil
	case strings.HasPrefix(input, "s3://"):
		fp, err := s3source.Fingerprint(ctx, input)
		return fp, stdin, inputDown(input, err)
	}
	if err := notDir(input); err != nil {
		return "", nil, err
	}
	fp, err := csvsource.Fingerprint(input)
	return fp, stdin, err
}

// inputDown turns an error of an S3 input that could not be reached
// (refused, reset, DNS, timeout, 5xx after the SDK's retries) into a
// resumable stop: nothing was paid for because of it, and the same command
// goes on when the storage is back. Other errors are returned as they are.
func inputDown(input string, err error) error {
	cause, ok := netfail.Unreachable(err)
	if !ok {
		return err
	}
	return &pipeline.StopError{Cause: &unreachableError{what: "input " + redact.URL(input), cause: cause, err: err}}
}

// unreachableError is the cause of a stop on a service that could not be
// reached: one line that says what to do.
type unreachableError struct {
	what, cause string
	err         error
}

func (e *unreachableError) Error() string {
	return e.what + " unreachable: " + e.cause + "; rerun the same command when it is back"
}

func (e *unreachableError) Unwrap() error { return e.err }

// storageSource is an S3 source whose read failures that outlive its
// reconnects stop the run resumably instead of failing it.
type storageSource struct {
	source
	input string
}

// Next returns the next row; a storage outage is a resumable stop.
func (s *storageSource) Next(ctx context.Context) (pipeline.Row, error) {
	row, err := s.source.Next(ctx)
	if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
		var rowErr *pipeline.RowError
		if !errors.As(err, &rowErr) {
			return row, inputDown(s.input, err)
		}
	}
	return row, err
}

// inputMissing reports an input file or object that does not exist.
func inputMissing(err error) bool {
	return errors.Is(err, os.ErrNotExist) || gcerrors.Code(err) == gcerrors.NotFound
}

// notDir refuses a local directory as input (a usage error).
func notDir(input string) error {
	if fi, err := os.Stat(input); err == nil && fi.IsDir() {
		return usagef("input %s is a directory: give a file, - for stdin, or s3://bucket/prefix/ for many objects", input)
	}
	return nil
}

// stdinHead is how much of stdin identifies it: a resume from stdin
// checks that the same data is piped in again (its first 64 KiB here;
// csvsource also checks the bytes it skips against the cursor's checkpoint).
const stdinHead = 64 << 10

// forcedDialect reads --delimiter and --encoding.
func (j *JobFlags) forcedDialect() (csvsource.Dialect, error) {
	var d csvsource.Dialect
	if j.Delimiter != "" {
		b, err := csvsource.ParseDelimiter(j.Delimiter)
		if err != nil {
			return d, usagef("--delimiter %w", err)
		}
		d.Delimiter = b
	}
	if j.Encoding != "" {
		if err := csvsource.CheckEncoding(j.Encoding); err != nil {
			return d, usagef("--encoding %w", err)
		}
		d.Encoding = j.Encoding
	}
	return d, nil
}

// detectDialect resolves the input's dialect from its head and the forced
// fields. Stdin's head is read and replayed: read from the returned reader.
func detectDialect(ctx context.Context, input string, stdin io.Reader, force csvsource.Dialect) (csvsource.Dialect, io.Reader, error) {
	var (
		d   csvsource.Dialect
		err error
	)
	switch {
	case isWorkbook(input):
		if force != (csvsource.Dialect{}) {
			return d, nil, usagef("--delimiter and --encoding are for CSV input; %s is a workbook", input)
		}
		return d, stdin, nil
	case readsLikeStdin(input):
		head := make([]byte, csvsource.SniffBytes)
		n, rerr := io.ReadFull(stdin, head)
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF) {
			return d, nil, fmt.Errorf("read %s: %w", streamName(input), rerr)
		}
		stdin = io.MultiReader(bytes.NewReader(head[:n]), stdin)
		d, err = csvsource.DetectReader(bytes.NewReader(head[:n]), force) // gzip undone
	case strings.HasPrefix(input, "s3://"):
		d, err = s3source.Detect(ctx, input, force)
		if stop := inputDown(input, err); stop != err {
			return d, nil, stop
		}
	default:
		d, err = csvsource.DetectFile(input, force)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return d, nil, usagef("input %s: %w", input, err)
		}
		return d, nil, fmt.Errorf("input %s: %w", input, err)
	}
	return d, stdin, nil
}

// isWorkbook reports whether an input or output names an Excel workbook.
func isWorkbook(path string) bool {
	return strings.HasSuffix(strings.ToLower(s3KeyPath(path)), ".xlsx")
}

// workbookSource is an xlsx source, over a local copy for an S3 input.
type workbookSource struct {
	*xlsxsource.Source
	tmp string // the local copy to remove on Close, if any
}

func (w *workbookSource) Close() error {
	err := w.Source.Close()
	if w.tmp != "" {
		os.Remove(w.tmp)
	}
	return err
}

// openWorkbook opens an .xlsx input (an S3 one is copied to a temporary
// file first; its ETag is part of the job's fingerprint).
func openWorkbook(ctx context.Context, input, sheet string, overrides map[string]string, cursor string, header []string) (source, error) {
	path, tmp := input, ""
	if strings.HasPrefix(input, "s3://") {
		f, err := os.CreateTemp("", "batch-input-*.xlsx")
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", input, err)
		}
		tmp, path = f.Name(), f.Name()
		err = s3source.Fetch(ctx, input, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			if stop := inputDown(input, err); stop != err {
				return nil, stop
			}
			return nil, fmt.Errorf("input %s: %w", input, err)
		}
	}
	opts := xlsxsource.Options{
		MapHeader: func(h []string) (contact.Mapping, error) { return contact.MapHeader(h, overrides) },
		Origin:    input,
		Sheet:     sheet,
	}
	src, err := xlsxsource.Open(ctx, path, opts, cursor, header)
	if err != nil {
		if tmp != "" {
			os.Remove(tmp)
		}
		if errors.Is(err, contact.ErrUnmapped) || errors.Is(err, os.ErrNotExist) || errors.Is(err, xlsxsource.ErrNoSheet) || errors.Is(err, xlsxsource.ErrNoHeader) {
			return nil, usagef("input %s: %w", input, err)
		}
		return nil, fmt.Errorf("input %s: %w", input, err)
	}
	return &workbookSource{Source: src, tmp: tmp}, nil
}

// openDetected opens the input from its first row, in the dialect detected
// from its head or forced by the flags: how estimate and merge read it.
func (j *JobFlags) openDetected(ctx context.Context, stdin io.Reader) (source, error) {
	force, err := j.forcedDialect()
	if err != nil {
		return nil, err
	}
	dialect, stdin, err := detectDialect(ctx, j.Input, stdin, force)
	if err != nil {
		return nil, err
	}
	return j.openInput(ctx, stdin, dialect, "", nil)
}

// openInput opens the job's input: a workbook, or CSV read with dialect.
func (j *JobFlags) openInput(ctx context.Context, stdin io.Reader, dialect csvsource.Dialect, cursor string, header []string) (source, error) {
	if isWorkbook(j.Input) {
		return openWorkbook(ctx, j.Input, j.Sheet, j.Map, cursor, header)
	}
	if j.Sheet != "" {
		return nil, usagef("--sheet is for workbook (.xlsx) input")
	}
	return openSource(ctx, j.Input, j.Map, stdin, dialect, cursor, header)
}

func openSource(ctx context.Context, input string, overrides map[string]string, stdin io.Reader, dialect csvsource.Dialect, cursor string, header []string) (source, error) {
	opts := csvsource.Options{
		MapHeader: func(h []string) (contact.Mapping, error) {
			m, err := contact.MapHeader(h, overrides)
			if err != nil {
				return nil, usageError{err} // a header or --map problem: the user's to fix
			}
			return m, nil
		},
		Stdin:   stdin,
		Dialect: dialect,
	}
	var (
		src source
		err error
	)
	if strings.HasPrefix(input, "s3://") {
		src, err = s3source.Open(ctx, input, opts, cursor, header)
		if stop := inputDown(input, err); stop != err {
			return nil, stop
		}
		if err == nil {
			return &storageSource{source: src, input: input}, nil
		}
	} else {
		path := input
		if readsLikeStdin(input) {
			opts.Origin, path = input, "-" // opened once by openStream, read as stdin
		} else if err := notDir(input); err != nil {
			return nil, err
		}
		src, err = csvsource.Open(ctx, path, opts, cursor, header)
	}
	if err != nil {
		if isUsage(err) || errors.Is(err, contact.ErrUnmapped) || inputMissing(err) || errors.Is(err, csvsource.ErrUnsupportedEncoding) || errors.Is(err, csvsource.ErrHeader) {
			return nil, usagef("input %s: %w", input, err)
		}
		return nil, fmt.Errorf("input %s: %w", input, err) // e.g. storage unreachable: not a usage error
	}
	return src, nil
}

// openSink opens the output at pos (the last committed position).
func openSink(ctx context.Context, c *RunCmd, state, jobID string, schema pipeline.Schema, pos pipeline.Position) (pipeline.Sink, error) {
	out := c.Output
	switch {
	case isDatabase(out):
		s, err := sqlsink.Open(ctx, out, sqlsink.Options{Table: c.Table, UpsertKey: c.UpsertKey, JobID: jobID[:16], Schema: schema}, pos)
		if err != nil {
			if isPostgres(out) {
				if stop := serviceError("output "+redact.URL(out), err); stop != nil {
					return nil, stop
				}
			}
			return nil, outputError(redact.URL(out), pos, err)
		}
		return s, nil
	case strings.HasPrefix(out, "s3://"):
		format, err := filesink.FormatFor(s3KeyPath(out))
		if err != nil {
			return nil, usagef("output %s: %w", out, err)
		}
		opts := filesink.DefaultOptions()
		opts.Format, opts.Schema, opts.EscapeFormulas = format, schema, !c.NoEscape
		opts.BOM, opts.CRLF = c.BOM || c.dialect.BOM, c.dialect.LineEnd == csvsource.CRLF
		s, err := s3sink.Open(ctx, out, filepath.Join(state, "output.staging"), opts, pos)
		if err != nil {
			return nil, outputError(out, pos, err)
		}
		return s, nil
	}
	if isWorkbook(out) {
		mode, err := c.outputMode()
		if err != nil {
			return nil, err
		}
		s, err := xlsxsink.Open(out, filepath.Join(state, "output.rows.csv"), xlsxsink.Options{Schema: schema, Sync: true, Mode: mode}, pos)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", out, err)
		}
		return s, nil
	}
	format, err := filesink.FormatFor(out)
	if err != nil && out != "-" {
		return nil, usagef("output %s: %w", out, err)
	}
	if out == "-" {
		format = filesink.CSV
	}
	opts := filesink.DefaultOptions()
	opts.Format, opts.Schema, opts.EscapeFormulas = format, schema, !c.NoEscape
	opts.BOM, opts.CRLF = c.BOM || c.dialect.BOM, c.dialect.LineEnd == csvsource.CRLF
	if opts.Mode, err = c.outputMode(); err != nil {
		return nil, err
	}
	s, err := filesink.Open(out, opts, pos)
	if err != nil {
		return nil, outputError(out, pos, err)
	}
	return s, nil
}

// outputError reports an output that cannot be opened. On a fresh start it
// is a usage error (exit 2): the target is wrong, unreachable or not
// writable, and the run stops before its first paid call. On resume (pos
// set) it is a failure of the job's own files (exit 1).
func outputError(out string, pos pipeline.Position, err error) error {
	if pos == "" {
		return usagef("output %s cannot be written (checked before any paid call): %w", out, err)
	}
	return fmt.Errorf("output %s: %w", out, err)
}

func openRejects(path string, pos pipeline.Position) (pipeline.RejectSink, error) {
	r, err := filesink.OpenRejects(path, pos)
	if err != nil {
		return nil, outputError(path, pos, err)
	}
	return r, nil
}

func s3KeyPath(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}

// resultCache is a cache of answers across runs: a local SQLite file, or a
// PostgreSQL database that the shards of a job share.
type resultCache interface {
	ForRun(scope checkpoint.CacheScope) pipeline.Cache
	Close() error
}

// openCache opens --cache. A shared (PostgreSQL) cache claims the keys a
// run misses so that other processes wait for its answer instead of paying
// too; claims is false for commands that only look (estimate).
func openCache(ctx context.Context, j *JobFlags, claims bool) (resultCache, error) {
	ttl, err := parseTTL(j.CacheTTL)
	if err != nil {
		return nil, err
	}
	if isPostgres(j.Cache) {
		c, err := checkpoint.OpenPGCache(ctx, j.Cache, ttl, checkpoint.PGCacheOptions{NoClaims: !claims, ClaimTTL: j.ClaimTTL})
		if err != nil {
			if stop := serviceError("cache "+redact.URL(j.Cache), err); stop != nil {
				return nil, stop
			}
			return nil, fmt.Errorf("open cache %s: %w", redact.URL(j.Cache), err)
		}
		return c, nil
	}
	path := j.Cache
	if path == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, usagef("no user cache directory (%v): set --cache or --no-cache", err)
		}
		path = filepath.Join(dir, "batch", "cache.db")
	}
	c, err := checkpoint.OpenCache(ctx, path, ttl)
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", path, err)
	}
	return c, nil
}

func isPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// parseTTL reads --cache-ttl: verdict=duration pairs, "default" for the
// rest. A duration is Go's (720h, 90m) or days (30d, 1.5d, 1d12h); a
// verdict must be one the cache stores.
func parseTTL(s string) (checkpoint.TTLPolicy, error) {
	p := checkpoint.DefaultTTLPolicy()
	if s == "" {
		return p, nil
	}
	known := make([]string, 0, len(p.ByVerdict)+1)
	for v := range p.ByVerdict {
		known = append(known, v)
	}
	sort.Strings(known)
	known = append(known, "default")
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return p, usagef("--cache-ttl: %q is not verdict=duration", kv)
		}
		k = strings.TrimSpace(k)
		if !slices.Contains(known, k) {
			return p, usagef("--cache-ttl: unknown verdict %q (want one of %s)", k, strings.Join(known, ", "))
		}
		d, err := parseTTLDuration(strings.TrimSpace(v))
		if err != nil {
			return p, usagef("--cache-ttl %s: %w", k, err)
		}
		if k == "default" {
			p.Default = d
			continue
		}
		p.ByVerdict[k] = d
	}
	return p, nil
}

// outputMode parses --output-mode (octal permission bits).
func (c *RunCmd) outputMode() (os.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimPrefix(c.OutputMode, "0o"), 8, 32)
	if err != nil || m > 0o777 || m&0o600 != 0o600 {
		return 0, usagef("--output-mode %q: want octal permission bits that let you read and write, such as 0600 or 0640", c.OutputMode)
	}
	return os.FileMode(m), nil
}

// parseTTLDuration parses a Go duration with an optional leading day count:
// "30d", "1.5d", "1d12h", "720h".
func parseTTLDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseFloat(days, 64)
	if err != nil || n < 0 || n > 100*365 {
		return 0, fmt.Errorf("bad day count in %q (want e.g. 30d, 1.5d, 1d12h or 720h)", s)
	}
	d := time.Duration(n * float64(24*time.Hour))
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		d += r
	}
	return d, nil
}
