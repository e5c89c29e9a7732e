package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// isStream reports whether input is a local file that is neither a regular
// file nor a directory: a named pipe, a character device, the /dev/fd/N of
// a shell's process substitution. Such an input can be read once only (a
// named pipe opened a second time waits for a second writer), so it is
// read like stdin: opened once by openStream, fingerprinted by its head,
// resumed by piping the same data in again.
func isStream(input string) bool {
	if input == "" || input == "-" || strings.HasPrefix(input, "s3://") {
		return false
	}
	fi, err := os.Stat(input) // does not open: never waits for a writer
	return err == nil && !fi.Mode().IsRegular() && !fi.IsDir()
}

// readsLikeStdin reports whether input is read from the stream the
// command was given (stdin, or an input openStream opened).
func readsLikeStdin(input string) bool { return input == "-" || isStream(input) }

// streamName names a stream input in messages.
func streamName(input string) string {
	if input == "-" {
		return "stdin"
	}
	return input
}

// openStream returns what a command reads input from when it is a stream:
// stdin for "-", the input opened once now for a stream input (isStream),
// stdin (unused) for any other. Waiting for a named pipe's writer, and
// every read of stdin or of a pipe, end when ctx is done, with ctx's error,
// so that the first SIGTERM stops the run resumably even while no data
// comes. close releases the stream.
func openStream(ctx context.Context, input string, stdin io.Reader) (r io.Reader, close func(), err error) {
	if input == "-" {
		return newCtxReader(ctx, stdin), func() {}, nil
	}
	if !isStream(input) {
		return stdin, func() {}, nil
	}
	if isWorkbook(input) {
		return nil, nil, usagef("input %s: a workbook (.xlsx) cannot be read from a pipe or device: give a file", input)
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(input) // a named pipe blocks here until it has a writer
		ch <- opened{f, err}
	}()
	var o opened
	select {
	case o = <-ch:
	case <-ctx.Done():
		go func() { // the open may still succeed: do not leak the file
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, nil, fmt.Errorf("input %s: waiting for a writer: %w", input, ctx.Err())
	}
	if o.err != nil {
		return nil, nil, usagef("input %s: %w", input, o.err)
	}
	return newCtxReader(ctx, o.f), func() { o.f.Close() }, nil
}

// streamChunk is the size of ctxReader's reads.
const streamChunk = 64 << 10

// ctxReader reads r in a goroutine of its own, so that a Read waiting on a
// pipe ends when ctx is done, with ctx's error (never io.EOF: the input did
// not end, the run was stopped). A read blocked in r then stays behind in
// that goroutine; the process is stopping.
type ctxReader struct {
	ctx context.Context
	ch  chan streamRead
	cur []byte
	err error
}

// streamRead is one read of the underlying reader.
type streamRead struct {
	b   []byte
	err error
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	cr := &ctxReader{ctx: ctx, ch: make(chan streamRead, 1)}
	go cr.pump(r)
	return cr
}

// pump reads r until an error (io.EOF included), handing each read over.
func (c *ctxReader) pump(r io.Reader) {
	for {
		b := make([]byte, streamChunk)
		n, err := r.Read(b)
		select {
		case c.ch <- streamRead{b[:n], err}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader.
func (c *ctxReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 && c.err == nil {
		select {
		case r := <-c.ch:
			c.cur, c.err = r.b, r.err
		case <-c.ctx.Done():
			return 0, c.ctx.Err()
		}
	}
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	if len(c.cur) == 0 && c.err != nil && (n == 0 || c.err != io.EOF) {
		return n, c.err
	}
	return n, nil
}
