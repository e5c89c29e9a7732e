// Package csvsource reads contact rows from CSV input (a local file, a
// gzipped file or stdin) as a stream, keeping every input column, with a
// byte-offset cursor per row for resume.
package csvsource

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
)

// headBytes is how much of the input the fingerprint hashes whole.
const headBytes = 64 << 10

// Fingerprint samples: sampleBlocks blocks of sampleBytes, spread evenly
// over the file after its head.
const (
	sampleBlocks = 64
	sampleBytes  = 4 << 10
)

var _ pipeline.Source = (*Source)(nil)

// Source reads a local CSV file or stdin ("-"). Gzip input is detected by
// its magic bytes or a .gz name.
type Source struct {
	dec         *Decoder
	closers     []io.Closer
	fingerprint string
	size        int64         // bytes of a plain file; -1 when unknown (gzip, stdin)
	done        atomic.Int64  // decoded offset after the last row, for Progress
	prefix      *prefixHasher // stdin: checkpoints of the bytes read
	head        []byte        // stdin: its first bytes, for Detect
}

// Open opens path ("-" for opts.Stdin or os.Stdin). With an empty cursor it
// reads from the start; else it resumes just after the row that produced
// cursor, using header, the Header() stored at the first run. Plain files
// seek to the offset; gzip input and stdin are read again from the start
// and the decoded bytes before the offset are discarded.
func Open(ctx context.Context, path string, opts Options, cursor string, header []string) (*Source, error) {
	if opts.Origin == "" {
		opts.Origin = path
	}
	var at *Resume
	var prefix string
	if cursor != "" {
		c, err := ParseCursor(cursor)
		if err != nil {
			return nil, err
		}
		at = &Resume{Header: header, Offset: c.Offset, Line: c.Line}
		prefix = c.Prefix
		if !opts.Dialect.Resolved() && path != "-" {
			d, err := DetectFile(path, opts.Dialect)
			if err != nil {
				return nil, err
			}
			opts.Dialect = d
		}
	}
	s := &Source{size: -1}
	var r io.Reader
	var err error
	seeked := false
	if path == "-" {
		r, err = s.openStdin(opts.Stdin)
		if err == nil {
			s.prefix = newPrefixHasher(r)
			r = s.prefix
		}
	} else {
		r, seeked, err = s.openFile(path, at)
	}
	if err == nil && at != nil && !opts.Dialect.Resolved() {
		opts.Dialect, err = DetectReader(bytes.NewReader(s.head), opts.Dialect) // stdin
	}
	if err == nil && at != nil && !seeked {
		r, err = checkPrefix(r, s.prefix, opts.Origin, at.Offset, prefix)
	}
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.dec, err = NewDecoder(r, opts, at)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// openStdin buffers stdin, hashes its head for the fingerprint and
// decompresses it when it is gzip. Resume is left to skip.
func (s *Source) openStdin(in io.Reader) (io.Reader, error) {
	if in == nil {
		in = os.Stdin
	}
	br := bufio.NewReaderSize(in, bufferSize)
	head, err := br.Peek(headBytes)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("csvsource: read stdin: %w", err)
	}
	s.fingerprint = fmt.Sprintf("stdin head=%x", sha256.Sum256(head))
	s.head = append([]byte(nil), head...)
	if isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("csvsource: read stdin: %w", err)
		}
		s.closers = append(s.closers, zr)
		return zr, nil
	}
	return br, nil
}

// openFile opens path; a plain file is positioned at the resume point
// (seeked), a gzip one at its start.
func (s *Source) openFile(path string, at *Resume) (r io.Reader, seeked bool, err error) {
	fp, err := Fingerprint(path)
	if err != nil {
		return nil, false, err
	}
	s.fingerprint = fp
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("csvsource: %w", err)
	}
	s.closers = append(s.closers, f)
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	if !isGzip(magic[:n]) && !strings.HasSuffix(path, ".gz") {
		if fi, err := f.Stat(); err == nil {
			s.size = fi.Size()
		}
		if at != nil {
			if _, err := f.Seek(at.Offset, io.SeekStart); err != nil {
				return nil, false, fmt.Errorf("csvsource: seek %s to %d: %w", path, at.Offset, err)
			}
		}
		return f, true, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, bufferSize))
	if err != nil {
		return nil, false, fmt.Errorf("csvsource: gunzip %s: %w", path, err)
	}
	s.closers = append(s.closers, zr)
	return zr, false, nil
}

// skipTo discards the decoded bytes before the resume offset for inputs
// that cannot seek.
func skipTo(r io.Reader, origin string, off int64) (io.Reader, error) {
	n, err := io.CopyN(io.Discard, r, off)
	if err == io.EOF {
		return nil, fmt.Errorf("csvsource: %s: input ends at %d, before the resume offset %d (input changed?)", origin, n, off)
	}
	if err != nil {
		return nil, fmt.Errorf("csvsource: skip %s to %d: %w", origin, off, err)
	}
	return r, nil
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// Header returns the input column names in input order.
func (s *Source) Header() []string { return s.dec.Header() }

// Mapping returns the contact field of each column.
func (s *Source) Mapping() contact.Mapping { return s.dec.Mapping() }

// Dialect returns the input's resolved dialect.
func (s *Source) Dialect() Dialect { return s.dec.Dialect() }

// Fingerprint returns the input's fingerprint as computed by Open (the
// only way to get one for stdin).
func (s *Source) Fingerprint() string { return s.fingerprint }

// Next returns the next row with its Cursor, io.EOF after the last row, or
// a *pipeline.RowError (with Cursor) for a row it skipped.
func (s *Source) Next(ctx context.Context) (pipeline.Row, error) {
	row, err := s.dec.Next(ctx)
	s.done.Store(s.dec.Offset())
	if err != nil {
		var re *pipeline.RowError
		if errors.As(err, &re) {
			re.Cursor = s.cursor()
		}
		return row, err
	}
	row.Cursor = s.cursor()
	return row, nil
}

func (s *Source) cursor() string {
	off := s.dec.Offset()
	if s.prefix == nil {
		return FormatCursor(off, s.dec.Line())
	}
	return formatCursorPrefix(off, s.dec.Line(), s.prefix.at(off))
}

// Progress reports how far reading has come: bytes read of total, total
// being -1 when unknown (gzip, stdin). Safe to call while Next runs.
func (s *Source) Progress() (done, total int64) { return s.done.Load(), s.size }

// Close releases the input. It does not close os.Stdin.
func (s *Source) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i].Close())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Fingerprint identifies a local file for resume: its size, modification
// time, the SHA-256 of its first 64 KiB and of 64 blocks of 4 KiB spread
// evenly over the rest (a fixed 320 KiB read whatever the size), so that
// an edit of the same size with the modification time put back is seen
// when it touches the head or a sampled block. Stdin has no fingerprint
// before it is read: use Source.Fingerprint.
func Fingerprint(path string) (string, error) {
	if path == "-" {
		return "", errors.New("csvsource: stdin is fingerprinted by Open (Source.Fingerprint)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("csvsource: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("csvsource: %w", err)
	}
	var head bytes.Buffer
	if _, err := io.CopyN(&head, f, headBytes); err != nil && err != io.EOF {
		return "", fmt.Errorf("csvsource: read %s: %w", path, err)
	}
	fp := fmt.Sprintf("size=%d mtime=%d head=%x", st.Size(), st.ModTime().UnixNano(), sha256.Sum256(head.Bytes()))
	if rest := st.Size() - headBytes; rest > 0 {
		h := sha256.New()
		buf := make([]byte, sampleBytes)
		for i := range int64(sampleBlocks) {
			n, err := f.ReadAt(buf, headBytes+i*rest/sampleBlocks)
			if err != nil && err != io.EOF {
				return "", fmt.Errorf("csvsource: read %s: %w", path, err)
			}
			h.Write(buf[:n])
		}
		fp += fmt.Sprintf(" samples=%x", h.Sum(nil))
	}
	return fp, nil
}

// DetectFile detects the dialect of a local file (gzip undone) from its
// head; see Detect.
func DetectFile(path string, force Dialect) (Dialect, error) {
	f, err := os.Open(path)
	if err != nil {
		return Dialect{}, fmt.Errorf("csvsource: %w", err)
	}
	defer f.Close()
	d, err := DetectReader(f, force)
	if err != nil {
		return Dialect{}, fmt.Errorf("csvsource: %s: %w", path, err)
	}
	return d, nil
}
