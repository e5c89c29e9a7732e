package csvsource

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Cursor is the decoded position of a csvsource row cursor.
type Cursor struct {
	Offset int64 `json:"o"`
	Line   int64 `json:"l"`
	// Prefix, for stdin, is the checkpoint "offset:hash" of the input's
	// first bytes at or before Offset (see prefixHasher).
	Prefix string `json:"p,omitempty"`
}

// FormatCursor encodes a position as a Row.Cursor: {"o":offset,"l":line}.
func FormatCursor(offset, line int64) string {
	b := make([]byte, 0, 32)
	b = append(b, `{"o":`...)
	b = strconv.AppendInt(b, offset, 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, line, 10)
	b = append(b, '}')
	return string(b)
}

// formatCursorPrefix is FormatCursor with a prefix checkpoint.
func formatCursorPrefix(offset, line int64, prefix string) string {
	if prefix == "" {
		return FormatCursor(offset, line)
	}
	c := FormatCursor(offset, line)
	return c[:len(c)-1] + `,"p":` + strconv.Quote(prefix) + "}"
}

// ParseCursor decodes a cursor made by FormatCursor.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return Cursor{}, fmt.Errorf("csvsource: parse cursor %q: %w", s, err)
	}
	if c.Offset < 0 || c.Line < 0 {
		return Cursor{}, fmt.Errorf("csvsource: parse cursor %q: negative position", s)
	}
	return c, nil
}
