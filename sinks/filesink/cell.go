package filesink

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"strings"
	"unicode/utf8"
)

// cleanCell makes v safe for a CSV cell. Each invalid UTF-8 byte and each
// NUL becomes U+FFFD, so the file is valid UTF-8 without raw NULs. With
// escape, a cell starting with = + - @ TAB CR or LF (a spreadsheet formula
// trigger, OWASP CSV injection) gets a leading single quote.
func cleanCell(v string, escape bool) string {
	if v == "" {
		return v
	}
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		v = replaceInvalid(v)
	}
	if escape {
		switch v[0] {
		case '=', '+', '-', '@', '\t', '\r', '\n':
			v = "'" + v
		}
	}
	return v
}

// replaceInvalid replaces each invalid UTF-8 byte and each NUL in v with
// U+FFFD, as encoding/json does for invalid bytes.
func replaceInvalid(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == 0 || r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(v[i : i+size])
		}
		i += size
	}
	return b.String()
}

// csvEncoder writes cleaned records with encoding/csv.
type csvEncoder struct {
	w      *bufio.Writer
	cw     *csv.Writer
	rec    []string
	escape bool
}

func newCSVEncoder(w *bufio.Writer, escape bool) *csvEncoder {
	// csv.NewWriter reuses w as its buffer (w is a *bufio.Writer of at least
	// the default size), so direct writes to w stay in order with cw's.
	return &csvEncoder{w: w, cw: csv.NewWriter(w), escape: escape}
}

// write writes the concatenation of parts as one record. A record of a
// single empty field is written as `""`: encoding/csv would write an empty
// line, which readers skip.
func (e *csvEncoder) write(parts ...[]string) error {
	e.rec = e.rec[:0]
	for _, p := range parts {
		for _, v := range p {
			e.rec = append(e.rec, cleanCell(v, e.escape))
		}
	}
	if len(e.rec) == 1 && e.rec[0] == "" {
		_, err := e.w.WriteString("\"\"\n")
		return err
	}
	return e.cw.Write(e.rec)
}

// csvHeader encodes the header row of a CSV output.
func csvHeader(cols []string, escape bool) ([]byte, error) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := newCSVEncoder(w, escape).write(cols); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
