package filesink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/contactbatch/batch/pipeline"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Like encoding/json it escapes
// control characters, U+2028 and U+2029, and replaces each invalid UTF-8
// byte with U+FFFD; unlike it, it leaves < > & alone.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// objectKeys returns the JSON-encoded keys ("name":) for names, in order.
// A repeated name gets a suffix "_2", "_3", … that no other name uses.
func objectKeys(names []string) [][]byte {
	used := make(map[string]bool, len(names))
	for _, n := range names {
		used[n] = true
	}
	seen := make(map[string]bool, len(names))
	keys := make([][]byte, len(names))
	for i, n := range names {
		k := n
		if seen[n] {
			for j := 2; ; j++ {
				k = n + "_" + strconv.Itoa(j)
				if !used[k] {
					break
				}
			}
			used[k] = true
		}
		seen[n] = true
		keys[i] = append(appendString(nil, k), ':')
	}
	return keys
}

// jsonEncoder builds one JSONL line per output.
type jsonEncoder struct {
	inputKeys  [][]byte
	resultKeys [][]byte
	buf        []byte
	raw        bytes.Buffer
}

func newJSONEncoder(input, result []string) *jsonEncoder {
	return &jsonEncoder{inputKeys: objectKeys(input), resultKeys: objectKeys(result)}
}

// isReserved reports whether name is a top-level key a nested field may
// not use.
func isReserved(name string) bool {
	return name == "line" || name == "input" || name == "result"
}

// line encodes {"line":…,"input":{…},<nested…>,"result":{…}} and a newline.
func (e *jsonEncoder) line(line int64, values, result []string, nested []pipeline.Field) ([]byte, error) {
	b := append(e.buf[:0], `{"line":`...)
	b = strconv.AppendInt(b, line, 10)
	b = append(b, `,"input":{`...)
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.inputKeys[i]...)
		b = appendString(b, v)
	}
	b = append(b, '}')
	for i, f := range nested {
		if isReserved(f.Name) {
			return nil, fmt.Errorf("nested field %q clashes with a top-level key", f.Name)
		}
		for _, g := range nested[:i] {
			if g.Name == f.Name {
				return nil, fmt.Errorf("nested field %q appears twice", f.Name)
			}
		}
		b = append(b, ',')
		b = appendString(b, f.Name)
		b = append(b, ':')
		if len(f.Value) == 0 {
			b = append(b, "null"...)
			continue
		}
		// Compact validates the value and removes the newlines that would
		// break the line format; invalid UTF-8 inside strings is replaced.
		e.raw.Reset()
		if err := json.Compact(&e.raw, f.Value); err != nil {
			return nil, fmt.Errorf("nested field %q: %w", f.Name, err)
		}
		raw := e.raw.Bytes()
		if !utf8.Valid(raw) {
			raw = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
		}
		b = append(b, raw...)
	}
	b = append(b, `,"result":{`...)
	first := true
	for i, v := range result {
		if v == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, e.resultKeys[i]...)
		b = appendString(b, v)
	}
	b = append(b, '}', '}', '\n')
	e.buf = b
	return b, nil
}
