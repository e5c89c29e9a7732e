// Package shardmerge joins the per-shard output files of a sharded job into
// the file a single run would have written. It copies each shard's records
// byte for byte; the caller decides, row by row in input order, which
// shard's next record comes next (see internal/shard).
//
// A CSV part starts with a header record, which every part must repeat
// byte for byte (the merged file gets it once); a JSONL part has one
// record per line and no header. The merged file is written as
// <path>.partial and renamed over path when Close succeeds, so a failed
// merge never leaves a half-written file under the final name.
package shardmerge

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"github.com/contactbatch/batch/internal/fsync"
	"io"
	"os"
	"path/filepath"
)

// ErrMismatch is wrapped by every error that says the parts do not match
// the input they are merged against: a different header, a part that runs
// out of records, or records left over.
var ErrMismatch = errors.New("parts do not match the input")

// Format is how a part's records are framed.
type Format int

// Part formats.
const (
	// CSV parts hold a header record and then RFC 4180 records, which may
	// span lines inside quotes.
	CSV Format = iota
	// JSONL parts hold one record per line.
	JSONL
)

// Part reads one shard's output file record by record, as raw bytes.
type Part struct {
	path   string
	f      *os.File
	format Format
	// For CSV: a reader that parses records and a second handle that the
	// raw bytes are read through, by the offsets the parser reports.
	csv     *csv.Reader
	rawFile *os.File
	raw     *bufio.Reader
	offset  int64
	// For JSONL: the lines.
	lines  *bufio.Reader
	header []byte
	n      int64
}

// OpenPart opens path and, for CSV, reads its header record.
func OpenPart(path string, format Format) (*Part, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("shardmerge: %w", err)
	}
	p := &Part{path: path, f: f, format: format}
	if format == JSONL {
		p.lines = bufio.NewReaderSize(f, 64<<10)
		return p, nil
	}
	g, err := os.Open(path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shardmerge: %w", err)
	}
	p.rawFile, p.raw = g, bufio.NewReaderSize(g, 64<<10)
	p.csv = csv.NewReader(bufio.NewReaderSize(f, 64<<10))
	p.csv.FieldsPerRecord = -1
	p.csv.ReuseRecord = true
	h, err := p.nextCSV()
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s is empty: %w", path, ErrMismatch)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	p.header = h
	return p, nil
}

// Header returns the part's header record as written, line ending
// included ("" for JSONL).
func (p *Part) Header() []byte { return p.header }

// Records returns how many records Next has returned.
func (p *Part) Records() int64 { return p.n }

// Next returns the next record's bytes, line ending included, or io.EOF
// after the last one. The slice is valid until the next call.
func (p *Part) Next() ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if p.format == JSONL {
		b, err = p.lines.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(b) > 0 {
			err = fmt.Errorf("shardmerge: %s ends inside a record: %w", p.path, ErrMismatch)
		}
	} else {
		b, err = p.nextCSV()
	}
	if err == nil {
		p.n++
	}
	return b, err
}

func (p *Part) nextCSV() ([]byte, error) {
	if _, err := p.csv.Read(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("shardmerge: %s: %w", p.path, err)
	}
	end := p.csv.InputOffset()
	b := make([]byte, end-p.offset)
	if _, err := io.ReadFull(p.raw, b); err != nil {
		return nil, fmt.Errorf("shardmerge: read %s: %w", p.path, err)
	}
	p.offset = end
	return b, nil
}

// Close closes the part's files.
func (p *Part) Close() error {
	err := p.f.Close()
	if p.rawFile != nil {
		err = errors.Join(err, p.rawFile.Close())
	}
	return err
}

// Writer writes the merged file as path.partial and publishes it on Close.
type Writer struct {
	path    string
	partial string
	f       *os.File
	bw      *bufio.Writer
	done    bool
}

// Create starts the merged file at path with the given permission bits.
func Create(path string, mode os.FileMode) (*Writer, error) {
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return nil, fmt.Errorf("shardmerge: %w", err)
	}
	return &Writer{path: path, partial: partial, f: f, bw: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Write appends raw record bytes.
func (w *Writer) Write(b []byte) error {
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("shardmerge: write %s: %w", w.partial, err)
	}
	return nil
}

// Close flushes, fsyncs and renames the merged file into place.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	err := w.bw.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.partial, w.path)
	}
	if err == nil {
		err = fsync.Dir(filepath.Dir(w.path))
	}
	if err != nil {
		return fmt.Errorf("shardmerge: publish %s: %w", w.path, err)
	}
	return nil
}

// Abort removes the partial file; the final name is left as it was.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.partial)
}

// SameHeaders checks that every CSV part has the first part's header.
func SameHeaders(parts []*Part) error {
	for _, p := range parts[1:] {
		if !bytes.Equal(p.header, parts[0].header) {
			return fmt.Errorf("shardmerge: %s has another header than %s: %w", p.path, parts[0].path, ErrMismatch)
		}
	}
	return nil
}

// Drained checks that every part has no record left.
func Drained(parts []*Part) error {
	for _, p := range parts {
		if _, err := p.Next(); !errors.Is(err, io.EOF) {
			if err == nil {
				err = fmt.Errorf("shardmerge: %s holds more records than the input gives it (%d read): %w", p.path, p.n-1, ErrMismatch)
			}
			return err
		}
	}
	return nil
}
