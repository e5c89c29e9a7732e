package csvsource

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// framer cuts a decoded CSV byte stream into records along the same
// boundaries encoding/csv uses (a newline ends a record unless it sits in a
// quoted field; after a parse error the rest of the physical line belongs
// to the bad record), so that every record reaches the csv.Reader whole,
// with its start line and byte span known, and so that an unbalanced quote
// is caught within MaxFieldBytes/MaxRecordBytes instead of swallowing the
// rest of the input.
type framer struct {
	br        *bufio.Reader
	replay    []byte // bytes to frame again before reading br (after an oversize record)
	maxField  int
	maxRecord int

	rec    []byte // current record bytes
	offset int64  // decoded offset of the first byte not yet framed
	line   int64  // physical lines ('\n') consumed so far
}

// frame is one record cut by the framer.
type frame struct {
	data      []byte // the record's bytes, ending with '\n' (added at EOF if missing)
	startLine int64  // 1-based physical line where the record starts
	nfields   int    // number of fields, as encoding/csv would count them
	bad       string // non-empty: the record is rejected for this reason
}

// framer states, mirroring encoding/csv's parser.
const (
	stFieldStart = iota // at the start of a field
	stUnquoted          // inside a non-quoted field
	stQuoted            // inside a quoted field
	stQuoteSeen         // just after a quote inside a quoted field
	stBad               // parse error seen: the rest of the line is part of this record
)

// chunk returns the next piece of input: up to and including a '\n', or a
// shorter piece when the line is longer than the buffer or ends at EOF. The
// piece is valid until the next call.
func (f *framer) chunk() ([]byte, error) {
	if len(f.replay) > 0 {
		if i := bytes.IndexByte(f.replay, '\n'); i >= 0 {
			c := f.replay[:i+1]
			f.replay = f.replay[i+1:]
			return c, nil
		}
		c := f.replay
		f.replay = nil
		return c, nil
	}
	c, err := f.br.ReadSlice('\n')
	switch {
	case err == nil, errors.Is(err, bufio.ErrBufferFull):
		return c, nil
	case err == io.EOF && len(c) > 0:
		return c, nil
	}
	return nil, err
}

// next returns the next non-blank record, io.EOF at the end of the input,
// or a read error.
func (f *framer) next() (frame, error) {
	for {
		fr, skip, err := f.cut()
		if err != nil || !skip {
			return fr, err
		}
	}
}

// cut frames one record; skip reports a blank line (encoding/csv skips those).
func (f *framer) cut() (fr frame, skip bool, err error) {
	f.rec = f.rec[:0]
	fr.startLine = f.line + 1
	st, fieldLen, nfields := stFieldStart, 0, 1
	for {
		c, err := f.chunk()
		if err == io.EOF {
			if len(f.rec) == 0 {
				return frame{}, false, io.EOF
			}
			if st == stQuoted {
				return f.reject(fr, "unterminated quoted field (unbalanced quote)"), false, nil
			}
			return f.accept(fr, nfields, true)
		}
		if err != nil {
			return frame{}, false, err
		}
		start := len(f.rec)
		f.rec = append(f.rec, c...)
		done := false
		for _, b := range f.rec[start:] {
			switch st {
			case stFieldStart:
				switch b {
				case '"':
					st, fieldLen = stQuoted, 0
				case ',':
					nfields++
				case '\n':
					done = true
				default:
					st, fieldLen = stUnquoted, 1
				}
			case stUnquoted:
				switch b {
				case ',':
					st = stFieldStart
					nfields++
				case '\n':
					done = true
				case '"':
					st = stBad
				default:
					fieldLen++
				}
			case stQuoted:
				if b == '"' {
					st = stQuoteSeen
				} else {
					fieldLen++
				}
			case stQuoteSeen:
				switch b {
				case '"':
					st = stQuoted
					fieldLen++
				case ',':
					st = stFieldStart
					nfields++
				case '\n':
					done = true
				default:
					st = stBad
				}
			case stBad:
				if b == '\n' {
					done = true
				}
			}
		}
		if fieldLen > f.maxField {
			return f.oversize(fr, "field longer than "+strconv.Itoa(f.maxField)+" bytes (unbalanced quote?)")
		}
		if len(f.rec) > f.maxRecord {
			return f.oversize(fr, "record longer than "+strconv.Itoa(f.maxRecord)+" bytes (unbalanced quote?)")
		}
		if done {
			return f.accept(fr, nfields, false)
		}
	}
}

// accept completes a well-framed record.
func (f *framer) accept(fr frame, nfields int, eof bool) (frame, bool, error) {
	f.offset += int64(len(f.rec))
	f.line += int64(bytes.Count(f.rec, []byte{'\n'}))
	if r := f.rec; len(r) == 1 && r[0] == '\n' || len(r) == 2 && r[0] == '\r' && r[1] == '\n' || len(r) == 1 && eof && r[0] == '\r' {
		return frame{}, true, nil
	}
	if eof {
		f.rec = append(f.rec, '\n')
	}
	fr.data = f.rec
	fr.nfields = nfields
	return fr, false, nil
}

// reject rejects the record's first physical line and frames everything
// after it again, so that one stray quote costs one line, not the rest of
// the input.
func (f *framer) reject(fr frame, reason string) frame {
	i := bytes.IndexByte(f.rec, '\n')
	if i < 0 {
		i = len(f.rec) - 1
	} else {
		f.line++
	}
	rest := f.rec[i+1:]
	if len(rest) > 0 {
		replay := make([]byte, 0, len(rest)+len(f.replay))
		replay = append(replay, rest...)
		f.replay = append(replay, f.replay...)
	}
	f.rec = f.rec[:i+1]
	f.offset += int64(len(f.rec))
	fr.data = f.rec
	fr.bad = reason
	return fr
}

// oversize rejects a record that passed a size limit. A record spanning
// several lines is cut after its first line (see reject); a single line
// too long is skipped up to its end without holding it in memory.
func (f *framer) oversize(fr frame, reason string) (frame, bool, error) {
	if bytes.IndexByte(f.rec, '\n') >= 0 {
		return f.reject(fr, reason), false, nil
	}
	keep := f.rec
	f.offset += int64(len(keep))
	for {
		c, err := f.chunk()
		if err == io.EOF {
			break
		}
		if err != nil {
			return frame{}, false, err
		}
		f.offset += int64(len(c))
		if c[len(c)-1] == '\n' {
			f.line++
			break
		}
	}
	fr.data = keep
	fr.bad = reason
	return fr, false, nil
}
