package filesink

import (
	"bufio"
	"bytes"
	"encoding/csv"

	"github.com/contactbatch/batch/internal/validutf8"
)

// cleanCell makes v safe for a CSV cell. Each invalid UTF-8 byte and each
// NUL becomes U+FFFD, so the file is valid UTF-8 without raw NULs. With
// escape, a cell starting with = + - @ TAB CR or LF (a spreadsheet formula
// trigger, OWASP CSV injection) gets a leading single quote.
func cleanCell(v string, escape bool) string {
	if v == "" {
		return v
	}
	v = validutf8.Clean(v, "\uFFFD")
	if escape {
		switch v[0] {
		case '=', '+', '-', '@', '\t', '\r', '\n':
			v = "'" + v
		}
	}
	return v
}

// csvEncoder writes cleaned records with encoding/csv.
type csvEncoder struct {
	w      *bufio.Writer
	cw     *csv.Writer
	rec    []string
	escape bool
	crlf   *bytes.Buffer // CRLF records: cw writes here, then the "\n" ending becomes "\r\n"
}

func newCSVEncoder(w *bufio.Writer, escape, crlf bool) *csvEncoder {
	if crlf {
		// Not csv.Writer.UseCRLF: it also turns "\n" inside a value into
		// "\r\n" and drops a "\r", and values must stay byte for byte.
		b := new(bytes.Buffer)
		return &csvEncoder{w: w, cw: csv.NewWriter(b), escape: escape, crlf: b}
	}
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
		end := "\"\"\n"
		if e.crlf != nil {
			end = "\"\"\r\n"
		}
		_, err := e.w.WriteString(end)
		return err
	}
	if e.crlf == nil {
		return e.cw.Write(e.rec)
	}
	e.crlf.Reset()
	if err := e.cw.Write(e.rec); err != nil {
		return err
	}
	e.cw.Flush()
	b := e.crlf.Bytes()
	if _, err := e.w.Write(b[:len(b)-1]); err != nil {
		return err
	}
	_, err := e.w.WriteString("\r\n")
	return err
}

// utf8BOM starts an output written WithBOM.
const utf8BOM = "\xEF\xBB\xBF"

// csvHeader encodes the header row of a CSV output, after a byte order
// mark when bom.
func csvHeader(cols []string, escape, bom, crlf bool) ([]byte, error) {
	var buf bytes.Buffer
	if bom {
		buf.WriteString(utf8BOM)
	}
	w := bufio.NewWriter(&buf)
	if err := newCSVEncoder(w, escape, crlf).write(cols); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
