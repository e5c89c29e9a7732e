package csvsource

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// DefaultMaxQuotedLines bounds the lines one quoted field may span.
const DefaultMaxQuotedLines = 64

// framer is the CSV parser: it cuts a UTF-8 byte stream into records and
// their fields, and knows each record's byte span and first line. It is
// one layer over bufio, not encoding/csv, because encoding/csv rewrites
// "\r\n" inside a quoted field to "\n" (values must come back byte for
// byte), cannot end records at a lone "\r" (CR-only files), rejects a bare
// quote inside an unquoted field (spreadsheets keep it as data), and has
// no bound on a field, a record or the lines a quoted field spans.
//
// The grammar is RFC 4180 with these choices: a field starting with a
// quote is quoted and ends at a quote followed by the delimiter or the
// line break; "" inside it is one quote; line breaks inside it are kept as
// they are. Any other field is unquoted and a quote inside it is data. A
// record whose quoted field does not close properly, spans more than
// maxLines lines, or runs past the end of the input is rejected at its
// first line only, and reading goes on from the line after it, so a stray
// quote costs one row, never the rows after it. A record spanning several
// lines that has the wrong number of fields is treated the same way.
type framer struct {
	br        *bufio.Reader
	replay    []byte // bytes to frame again before reading br
	delim     byte
	term      byte // '\n', or '\r' for CR-only input
	maxField  int
	maxRecord int
	maxLines  int
	want      int // fields per record; 0 while reading the header

	rec    []byte // current record bytes
	val    []byte // the current record's field values, concatenated
	ends   []int  // end of each field in val
	offset int64  // decoded offset of the first byte not yet framed
	line   int64  // line breaks consumed so far
}

// frame is one record cut by the framer.
type frame struct {
	data      []byte // the record's bytes, line break included
	startLine int64  // 1-based line where the record starts
	bad       string // non-empty: the record is rejected for this reason
}

// framer states.
const (
	stFieldStart = iota // at the start of a field
	stUnquoted          // inside a non-quoted field
	stQuoted            // inside a quoted field
	stQuoteSeen         // just after a quote inside a quoted field
	stQuoteCR           // a "\r" after a closing quote (LF input)
	stBad               // the line is bad: skip to its end
)

// chunk returns the next piece of input: up to and including a line
// break, or a shorter piece when the line is longer than the buffer or
// ends at EOF. The piece is valid until the next call.
func (f *framer) chunk() ([]byte, error) {
	if len(f.replay) > 0 {
		if i := bytes.IndexByte(f.replay, f.term); i >= 0 {
			c := f.replay[:i+1]
			f.replay = f.replay[i+1:]
			return c, nil
		}
		c := f.replay
		f.replay = nil
		return c, nil
	}
	c, err := f.br.ReadSlice(f.term)
	switch {
	case err == nil, errors.Is(err, bufio.ErrBufferFull):
		return c, nil
	case err == io.EOF && len(c) > 0:
		return c, nil
	}
	return nil, err
}

// next returns the next non-blank record, io.EOF at the end of the input,
// or a read error. Its fields are in f.val and f.ends until the next call.
func (f *framer) next() (frame, error) {
	for {
		fr, skip, err := f.cut()
		if err != nil || !skip {
			return fr, err
		}
	}
}

// cut frames one record; skip reports a blank line.
func (f *framer) cut() (fr frame, skip bool, err error) {
	f.rec, f.val, f.ends = f.rec[:0], f.val[:0], f.ends[:0]
	fr.startLine = f.line + 1
	st, lines := stFieldStart, 0
	quoted, badWhy := false, ""
	for {
		c, err := f.chunk()
		if err == io.EOF {
			if len(f.rec) == 0 {
				return frame{}, false, io.EOF
			}
			switch st {
			case stQuoted:
				return f.reject(fr, "quoted field not closed before the end of the input (stray quote?)"), false, nil
			case stBad:
				return f.reject(fr, badWhy), false, nil
			}
			f.endRecord(st)
			return f.accept(fr, quoted, lines)
		}
		if err != nil {
			return frame{}, false, err
		}
		start := len(f.rec)
		f.rec = append(f.rec, c...)
		done := false
		for i := start; i < len(f.rec) && !done; i++ {
			b := f.rec[i]
			switch st {
			case stFieldStart:
				switch b {
				case '"':
					st, quoted = stQuoted, true
				case f.delim:
					f.ends = append(f.ends, len(f.val))
				case f.term:
					done = true
				default:
					st, quoted = stUnquoted, false
					f.val = append(f.val, b)
				}
			case stUnquoted:
				switch b {
				case f.delim:
					st = stFieldStart
					f.ends = append(f.ends, len(f.val))
				case f.term:
					done = true
				default:
					j := f.plainRun(i + 1)
					f.val = append(f.val, f.rec[i:j]...)
					i = j - 1
				}
			case stQuoted:
				if b == '"' {
					st = stQuoteSeen
					break
				}
				if b != f.term {
					j := f.quotedRun(i + 1)
					f.val = append(f.val, f.rec[i:j]...)
					i = j - 1
					break
				}
				f.val = append(f.val, b)
				if b == f.term {
					if lines++; lines >= f.maxLines {
						return f.reject(fr, "quoted field still open after "+strconv.Itoa(f.maxLines)+" lines (stray quote?)"), false, nil
					}
				}
			case stQuoteSeen:
				switch b {
				case '"':
					st = stQuoted
					f.val = append(f.val, '"')
				case f.delim:
					st = stFieldStart
					f.ends = append(f.ends, len(f.val))
				case f.term:
					done = true
				case '\r':
					st = stQuoteCR
				default:
					st, badWhy = stBad, "text after the closing quote of field "+strconv.Itoa(len(f.ends)+1)
				}
			case stQuoteCR:
				if b == f.term {
					done = true
				} else {
					st, badWhy = stBad, "text after the closing quote of field "+strconv.Itoa(len(f.ends)+1)
				}
			case stBad:
				if b == f.term {
					done = true
				}
			}
			if st == stBad && lines > 0 {
				return f.reject(fr, badWhy), false, nil
			}
		}
		if len(f.val)-f.fieldStart() > f.maxField {
			return f.oversize(fr, "field longer than "+strconv.Itoa(f.maxField)+" bytes (unbalanced quote?)")
		}
		if len(f.rec) > f.maxRecord {
			return f.oversize(fr, "record longer than "+strconv.Itoa(f.maxRecord)+" bytes (unbalanced quote?)")
		}
		if done {
			if st == stBad {
				return f.reject(fr, badWhy), false, nil
			}
			f.endRecord(st)
			return f.accept(fr, quoted, lines)
		}
	}
}

// plainRun returns the end of the run of unquoted-field bytes at i in
// f.rec: the next delimiter or line break, or the end of f.rec.
func (f *framer) plainRun(i int) int {
	for ; i < len(f.rec); i++ {
		if b := f.rec[i]; b == f.delim || b == f.term {
			return i
		}
	}
	return i
}

// quotedRun returns the end of the run of quoted-field bytes at i in
// f.rec: the next quote or line break, or the end of f.rec.
func (f *framer) quotedRun(i int) int {
	for ; i < len(f.rec); i++ {
		if b := f.rec[i]; b == '"' || b == f.term {
			return i
		}
	}
	return i
}

// fieldStart is where the current field's value starts in f.val.
func (f *framer) fieldStart() int {
	if len(f.ends) == 0 {
		return 0
	}
	return f.ends[len(f.ends)-1]
}

// endRecord ends the last field, dropping the "\r" of a "\r\n" that ends
// an unquoted one.
func (f *framer) endRecord(st int) {
	if st == stUnquoted && f.term == '\n' && len(f.val) > f.fieldStart() && f.val[len(f.val)-1] == '\r' {
		f.val = f.val[:len(f.val)-1]
	}
	f.ends = append(f.ends, len(f.val))
}

// accept completes a well-framed record, or rejects a record spanning
// lines with the wrong number of fields at its first line.
func (f *framer) accept(fr frame, lastQuoted bool, lines int) (frame, bool, error) {
	if lines > 0 && f.want > 0 && len(f.ends) != f.want {
		return f.reject(fr, "a quoted field spans "+strconv.Itoa(lines+1)+" lines and leaves "+strconv.Itoa(len(f.ends))+
			" fields, header has "+strconv.Itoa(f.want)+" (stray quote?)"), false, nil
	}
	f.offset += int64(len(f.rec))
	f.line += int64(bytes.Count(f.rec, []byte{f.term}))
	if len(f.ends) == 1 && f.ends[0] == 0 && !lastQuoted {
		return frame{}, true, nil // a blank line
	}
	fr.data = f.rec
	return fr, false, nil
}

// reject rejects the record's first line and frames everything after it
// again, so that one stray quote costs one line, not the rest of the
// input.
func (f *framer) reject(fr frame, reason string) frame {
	i := bytes.IndexByte(f.rec, f.term)
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
	if bytes.IndexByte(f.rec, f.term) >= 0 {
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
		if c[len(c)-1] == f.term {
			f.line++
			break
		}
	}
	fr.data = keep
	fr.bad = reason
	return fr, false, nil
}
