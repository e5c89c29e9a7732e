package filesink

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/contactbatch/batch/pipeline"
)

// uniqueNames returns names with each repeat given a suffix "_2", "_3", …
// that no other name uses.
func uniqueNames(names []string) []string {
	used := make(map[string]bool, len(names))
	for _, n := range names {
		used[n] = true
	}
	seen := make(map[string]bool, len(names))
	out := make([]string, len(names))
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
		out[i] = k
	}
	return out
}

// jsonEncoder builds one JSONL line per output.
type jsonEncoder struct {
	inputKeys  []string
	resultKeys []string
	buf        bytes.Buffer
	enc        *jsontext.Encoder
}

func newJSONEncoder(input, result []string) *jsonEncoder {
	e := &jsonEncoder{inputKeys: uniqueNames(input), resultKeys: uniqueNames(result)}
	e.enc = jsontext.NewEncoder(&e.buf)
	return e
}

// isReserved reports whether name is a top-level key a nested field may
// not use.
func isReserved(name string) bool {
	return name == "line" || name == "input" || name == "result"
}

// line encodes {"line":…,"input":{…},<nested…>,"result":{…}} and a newline.
// Nested values are validated and compacted (a newline in one would break
// the line format). The returned bytes are valid until the next call.
func (e *jsonEncoder) line(line int64, values, result []string, nested []pipeline.Field) ([]byte, error) {
	for i, f := range nested {
		if isReserved(f.Name) {
			return nil, fmt.Errorf("nested field %q clashes with a top-level key", f.Name)
		}
		for _, g := range nested[:i] {
			if g.Name == f.Name {
				return nil, fmt.Errorf("nested field %q appears twice", f.Name)
			}
		}
	}
	// U+2028 and U+2029 are escaped (a line splitter that honours them
	// would cut the line); invalid UTF-8 becomes U+FFFD; < > & stay.
	e.buf.Reset()
	e.enc.Reset(&e.buf, jsontext.EscapeForJS(true), jsontext.AllowInvalidUTF8(true))
	enc := e.enc
	err := enc.WriteToken(jsontext.BeginObject)
	put := func(t jsontext.Token) {
		if err == nil {
			err = enc.WriteToken(t)
		}
	}
	put(jsontext.String("line"))
	put(jsontext.Int(line))
	put(jsontext.String("input"))
	put(jsontext.BeginObject)
	for i, v := range values {
		put(jsontext.String(e.inputKeys[i]))
		put(jsontext.String(v))
	}
	put(jsontext.EndObject)
	for _, f := range nested {
		put(jsontext.String(f.Name))
		if len(f.Value) == 0 {
			put(jsontext.Null)
			continue
		}
		if err == nil {
			if err = enc.WriteValue(jsontext.Value(f.Value)); err != nil {
				return nil, fmt.Errorf("nested field %q: %w", f.Name, err)
			}
		}
	}
	put(jsontext.String("result"))
	put(jsontext.BeginObject)
	for i, v := range result {
		if v != "" {
			put(jsontext.String(e.resultKeys[i]))
			put(jsontext.String(v))
		}
	}
	put(jsontext.EndObject)
	put(jsontext.EndObject)
	if err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}
