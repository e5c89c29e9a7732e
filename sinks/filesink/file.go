package filesink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/contactbatch/batch/internal/fsync"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/contactbatch/batch/pipeline"
)

// BufferSize is the size of the write buffer in front of the file.
const BufferSize = 256 << 10

// PartialSuffix is appended to the output path to name the file written
// while a run is going; Close renames it to the output path.
const PartialSuffix = ".partial"

// ErrPositionMismatch is returned by Open and OpenRejects when the
// position to resume from does not match the partial file on disk (the
// file is missing or shorter than the position, or the position is not a
// byte count).
var ErrPositionMismatch = errors.New("position does not match the partial file")

// ErrClosed is returned by Write, WriteReject and Commit after Close or
// Release.
var ErrClosed = errors.New("sink is closed")

// output is the byte stream shared by Sink and Rejects: a partial file (or
// a stream such as stdout) behind a counting, buffered writer.
type output struct {
	path    string   // final path; "" for a stream
	partial string   // path + PartialSuffix; "" for a stream
	f       *os.File // nil for a stream
	bw      *bufio.Writer
	n       int64 // bytes handed to the file or stream, as a position
	sync    bool
	synced  int64 // n at the last fsync, valid once didSync
	didSync bool
	fresh   bool // a header must be written
	closed  bool
}

// Write implements io.Writer for the bufio.Writer below it and counts bytes.
type counter struct {
	w io.Writer
	n *int64
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// parsePosition returns the byte count in pos; "" is 0.
func parsePosition(pos pipeline.Position) (int64, error) {
	if pos == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(pos), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("position %q is not a byte count: %w", string(pos), ErrPositionMismatch)
	}
	return n, nil
}

// openStream returns an output over w. A stream cannot be truncated: on
// resume it continues counting from pos and the caller writes the header
// again.
func openStream(w io.Writer, pos pipeline.Position) (*output, error) {
	n, err := parsePosition(pos)
	if err != nil {
		return nil, err
	}
	o := &output{n: n, fresh: true}
	o.bw = bufio.NewWriterSize(counter{w: w, n: &o.n}, BufferSize)
	return o, nil
}

// openFile opens path+PartialSuffix for writing at pos. With pos "" or "0"
// it creates or truncates the partial file (fresh); otherwise it truncates
// the existing partial file to pos and appends. header is what a fresh file
// starts with (the caller writes it); magic is what every non-empty file of
// this kind starts with, to recognise an already published output when the
// partial file is gone (see adopt).
func openFile(path string, pos pipeline.Position, mode os.FileMode, sync bool, header, magic []byte) (*output, error) {
	n, err := parsePosition(pos)
	if err != nil {
		return nil, fmt.Errorf("filesink: open %s: %w", path, err)
	}
	o := &output{path: path, partial: path + PartialSuffix, sync: sync}
	if n > 0 && n < int64(len(header)) {
		return nil, fmt.Errorf("filesink: resume %s at %d: position is inside the header: %w", o.partial, n, ErrPositionMismatch)
	}
	if n == 0 {
		f, err := os.OpenFile(o.partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
		if err != nil {
			return nil, fmt.Errorf("filesink: create %s: %w", o.partial, err)
		}
		if err := f.Chmod(mode); err != nil { // exactly mode, whatever the umask
			f.Close()
			return nil, fmt.Errorf("filesink: create %s: %w", o.partial, err)
		}
		o.f, o.fresh = f, true
	} else {
		f, err := os.OpenFile(o.partial, os.O_WRONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			f, err = adopt(path, o.partial, n, magic)
		}
		if err != nil {
			return nil, fmt.Errorf("filesink: resume %s at %d: %w", o.partial, n, err)
		}
		if err := resumeAt(f, n); err != nil {
			f.Close()
			return nil, fmt.Errorf("filesink: resume %s at %d: %w", o.partial, n, err)
		}
		o.f, o.n = f, n
	}
	o.bw = bufio.NewWriterSize(counter{w: o.f, n: &o.n}, BufferSize)
	return o, nil
}

// resumeAt truncates f to n bytes and moves its offset there.
func resumeAt(f *os.File, n int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < n {
		return fmt.Errorf("partial file holds %d bytes: %w", fi.Size(), ErrPositionMismatch)
	}
	if err := f.Truncate(n); err != nil {
		return err
	}
	_, err = f.Seek(n, io.SeekStart)
	return err
}

// adopt handles a resume whose partial file is missing because a previous
// run published it (Close renamed it) but stopped before its ledger marked
// the job finished. If path exists, holds at least n bytes and starts with
// magic, it is renamed back to partial and opened; anything else is a
// position mismatch.
func adopt(path, partial string, n int64, magic []byte) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("partial file is missing: %w", ErrPositionMismatch)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || fi.Size() < n) {
		err = fmt.Errorf("partial file is missing and %s holds %d bytes: %w", path, fi.Size(), ErrPositionMismatch)
	}
	if err == nil && len(magic) > 0 {
		got := make([]byte, len(magic))
		if _, rerr := io.ReadFull(f, got); rerr != nil || !bytes.Equal(got, magic) {
			err = fmt.Errorf("partial file is missing and %s starts differently: %w", path, ErrPositionMismatch)
		}
	}
	if err == nil {
		err = os.Rename(path, partial)
	}
	if err == nil {
		err = fsync.Dir(filepath.Dir(path))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// commit flushes the buffer, fsyncs when asked and returns the position.
func (o *output) commit() (pipeline.Position, error) {
	if o.closed {
		return "", ErrClosed
	}
	if err := o.bw.Flush(); err != nil {
		return "", fmt.Errorf("filesink: write %s: %w", o.name(), err)
	}
	if o.f != nil && o.sync && (!o.didSync || o.n != o.synced) {
		if err := o.f.Sync(); err != nil {
			return "", fmt.Errorf("filesink: sync %s: %w", o.partial, err)
		}
		o.synced, o.didSync = o.n, true
	}
	return pipeline.Position(strconv.FormatInt(o.n, 10)), nil
}

// close commits, then publishes the partial file: close, rename to path,
// fsync the directory. A stream is only flushed. Closing twice is a no-op.
func (o *output) close() error {
	if o.closed {
		return nil
	}
	if _, err := o.commit(); err != nil {
		return err
	}
	o.closed = true
	if o.f == nil {
		return nil
	}
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("filesink: close %s: %w", o.partial, err)
	}
	if err := os.Rename(o.partial, o.path); err != nil {
		return fmt.Errorf("filesink: publish %s: %w", o.path, err)
	}
	if o.sync {
		if err := fsync.Dir(filepath.Dir(o.path)); err != nil {
			return fmt.Errorf("filesink: publish %s: %w", o.path, err)
		}
	}
	return nil
}

// release closes the partial file without publishing it. A stream is
// flushed so that it ends on a row boundary.
func (o *output) release() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if o.f == nil {
		if err := o.bw.Flush(); err != nil {
			return fmt.Errorf("filesink: write %s: %w", o.name(), err)
		}
		return nil
	}
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("filesink: close %s: %w", o.partial, err)
	}
	return nil
}

func (o *output) name() string {
	if o.f == nil {
		return "stream"
	}
	return o.partial
}
