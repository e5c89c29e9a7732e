// Package validutf8 makes text valid UTF-8 without NUL characters, the one
// way every sink and source of batch does: each invalid byte becomes
// U+FFFD (as encoding/json and the JSON outputs do), and each NUL becomes
// what the caller asks for (U+FFFD in CSV cells and rejects, nothing in
// PostgreSQL text, which refuses NUL).
package validutf8

import (
	"strings"
	"unicode/utf8"
)

// Clean returns s with each invalid UTF-8 byte replaced by U+FFFD and each
// NUL by nul. It returns s itself when there is nothing to replace.
func Clean(s, nul string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0:
			b.WriteString(nul)
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
