package sqlsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/contactbatch/batch/internal/validutf8"
	"github.com/contactbatch/batch/pipeline"
)

// row is one output ready for the database. Empty email and raw mean NULL.
type row struct {
	job     string
	seq     int64
	line    int64
	origin  string
	email   string
	input   string
	raw     string
	results []any // nil, string, int64 or bool
}

// key returns the row's upsert key within one job.
func (r *row) key(upsertKey string) string {
	if upsertKey == UpsertEmail && r.email != "" {
		return "e" + r.email
	}
	return "r" + strconv.FormatInt(r.seq, 10)
}

// args returns the row's values in layout.insertColumns order.
func (r *row) args() []any {
	a := make([]any, 0, 7+len(r.results))
	a = append(a, r.job, r.seq, r.line, r.origin, nullable(r.email), r.input, nullable(r.raw))
	return append(a, r.results...)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// encoder turns outputs into rows for one backend.
type encoder struct {
	job      string
	keys     [][]byte // JSON-encoded input keys, each followed by ':'
	sanitize bool     // PostgreSQL: no invalid UTF-8, no NUL
}

func newEncoder(job string, header []string, sanitize bool) encoder {
	e := encoder{sanitize: sanitize}
	e.job = e.text(job)
	for _, name := range inputKeys(header, sanitize) {
		k := appendJSONString(nil, name, sanitize)
		e.keys = append(e.keys, append(k, ':'))
	}
	return e
}

// inputKeys returns the JSON keys of the input object: the header names as
// they will read back (invalid UTF-8 replaced, NUL dropped when sanitizing),
// an empty name replaced by column_N (1-based), and a repeated name
// suffixed with _2, _3, … until unique.
func inputKeys(header []string, sanitize bool) []string {
	names := make([]string, len(header))
	taken := make(map[string]bool, len(header))
	for i, h := range header {
		if sanitize {
			h = validutf8.Clean(h, "")
		} else {
			h = validutf8.Clean(h, "\x00") // NUL kept
		}
		if h == "" {
			h = "column_" + strconv.Itoa(i+1)
		}
		names[i] = h
	}
	for i, h := range names {
		if taken[h] {
			for n := 2; ; n++ {
				c := h + "_" + strconv.Itoa(n)
				if !taken[c] && !contains(names[i+1:], c) {
					h = c
					break
				}
			}
		}
		taken[h] = true
		names[i] = h
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// text returns s as it may be stored.
func (e *encoder) text(s string) string {
	if !e.sanitize {
		return s
	}
	return validutf8.Clean(s, "")
}

func (e *encoder) row(out *pipeline.Output, sc pipeline.Schema) (row, error) {
	if len(out.Values) != len(e.keys) {
		return row{}, fmt.Errorf("%d input values, schema has %d", len(out.Values), len(e.keys))
	}
	if len(out.Result) != len(sc.Result) {
		return row{}, fmt.Errorf("%d result values, schema has %d", len(out.Result), len(sc.Result))
	}
	r := row{
		job:     e.job,
		seq:     out.Seq,
		line:    out.Line,
		origin:  e.text(out.Origin),
		email:   e.text(out.Email),
		results: make([]any, len(out.Result)),
	}
	var b []byte
	b = append(b, '{')
	for i, v := range out.Values {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.keys[i]...)
		b = appendJSONString(b, v, e.sanitize)
	}
	r.input = string(append(b, '}'))
	raw, err := e.raw(out.Raw)
	if err != nil {
		return row{}, err
	}
	r.raw = raw
	for i, v := range out.Result {
		if v == "" {
			continue
		}
		switch sc.Types[i] {
		case pipeline.TypeBool:
			switch v {
			case "true":
				r.results[i] = true
			case "false":
				r.results[i] = false
			default:
				return row{}, fmt.Errorf("column %s: %q is not true or false", sc.Result[i], v)
			}
		case pipeline.TypeInt:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return row{}, fmt.Errorf("column %s: %q is not an integer", sc.Result[i], v)
			}
			r.results[i] = n
		default:
			r.results[i] = e.text(v)
		}
	}
	return r, nil
}

// raw builds the raw column: a JSON object of the raw responses by stage,
// "" (NULL) when there is none. A value that is not valid JSON is stored
// as a JSON string.
func (e *encoder) raw(fields []pipeline.Field) (string, error) {
	if len(fields) == 0 {
		return "", nil
	}
	var b []byte
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Name, e.sanitize)
		b = append(b, ':')
		v := bytes.TrimSpace(f.Value)
		switch {
		case len(v) == 0 || !json.Valid(v):
			b = appendJSONString(b, string(f.Value), e.sanitize)
		case e.sanitize && needsJSONClean(v):
			c, err := cleanJSON(v)
			if err != nil {
				return "", fmt.Errorf("raw %s: %w", f.Name, err)
			}
			b = append(b, c...)
		default:
			b = append(b, v...)
		}
	}
	return string(append(b, '}')), nil
}

// needsJSONClean reports whether PostgreSQL's jsonb could refuse v: invalid
// UTF-8, a \u0000 escape or a (possibly lone) surrogate escape.
func needsJSONClean(v []byte) bool {
	if !utf8.Valid(v) {
		return true
	}
	for i := 0; i+5 < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		if v[i+1] != 'u' {
			i++ // skip the escaped character, which may be a backslash
			continue
		}
		h := strings.ToLower(string(v[i+2 : i+6]))
		if h == "0000" || h[0] == 'd' && h[1] >= '8' {
			return true
		}
		i += 5
	}
	return false
}

// cleanJSON re-encodes v token by token with every string sanitized for
// PostgreSQL: invalid UTF-8 and lone surrogates become U+FFFD (the
// decoder's AllowInvalidUTF8), NUL characters are dropped. Names that
// collide once NUL is dropped are kept, as a JSON object may repeat them.
func cleanJSON(v []byte) ([]byte, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(v), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	var buf bytes.Buffer
	enc := jsontext.NewEncoder(&buf, jsontext.AllowDuplicateNames(true))
	for {
		tok, err := dec.ReadToken()
		if err == io.EOF {
			return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
		}
		if err != nil {
			return nil, err
		}
		if tok.Kind() == '"' {
			tok = jsontext.String(strings.ReplaceAll(tok.String(), "\x00", ""))
		}
		if err := enc.WriteToken(tok); err != nil {
			return nil, err
		}
	}
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; NUL is dropped when dropNUL is set, else escaped as \u0000.
func appendJSONString(b []byte, s string, dropNUL bool) []byte {
	if dropNUL {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	b, _ = jsontext.AppendQuote(b, s) // the error only reports the replaced invalid UTF-8
	return b
}
