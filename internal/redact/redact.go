// Package redact removes a secret, and any piece of it long enough to
// matter, from text before it reaches an error, a log line or an output.
package redact

import "strings"

// MinRun is the shortest piece of the secret that is redacted: any run of
// MinRun or more bytes that occurs in the secret, compared without ASCII
// case, is replaced.
const MinRun = 8

// Mark replaces each redacted run.
const Mark = "[redacted]"

// Redactor redacts one secret. The zero value and nil redact nothing.
type Redactor struct {
	secret string          // lower-cased
	grams  map[uint64]bool // every MinRun-byte window of secret, lower-cased
	// filter has the bit gramBit(w) set for every window w in grams: most
	// windows of a text fail it, without the map lookup.
	filter [1 << 10]uint64
	inKey  [256]bool // bytes (lower-cased) that occur in secret
}

// New returns a Redactor for secret. A secret shorter than MinRun is
// redacted only where it occurs whole (without ASCII case) as a token: not
// inside a longer word (ASCII letters, digits, _) and never inside a
// terminal escape sequence, so a one-letter key cannot turn the "K" of a
// clear-line escape (ESC [ 2 K) into a mark.
func New(secret string) *Redactor {
	r := &Redactor{secret: lowerASCII(secret)}
	if r.secret == "" {
		return r
	}
	for i := 0; i < len(r.secret); i++ {
		r.inKey[r.secret[i]] = true
	}
	if len(r.secret) >= MinRun {
		r.grams = make(map[uint64]bool, len(r.secret)-MinRun+1)
		for i := 0; i+MinRun <= len(r.secret); i++ {
			w := pack(r.secret[i : i+MinRun])
			r.grams[w] = true
			b := gramBit(w)
			r.filter[b>>6] |= 1 << (b & 63)
		}
	}
	return r
}

// String returns s with every run of the secret redacted. It does not
// allocate when there is nothing to redact.
func (r *Redactor) String(s string) string {
	if r == nil || r.secret == "" {
		return s
	}
	spans := find(r, s)
	if spans == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(Mark)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// Bytes is String for a byte slice; it returns p itself when there is
// nothing to redact.
func (r *Redactor) Bytes(p []byte) []byte {
	if r == nil || r.secret == "" {
		return p
	}
	spans := find(r, p)
	if spans == nil {
		return p
	}
	out := make([]byte, 0, len(p))
	last := 0
	for _, sp := range spans {
		out = append(out, p[last:sp[0]]...)
		out = append(out, Mark...)
		last = sp[1]
	}
	return append(out, p[last:]...)
}

// find returns the byte ranges [start, end) to redact, merged and in order.
func find[T ~string | ~[]byte](r *Redactor, s T) [][2]int {
	if len(r.secret) < MinRun {
		return findWhole(r, s)
	}
	var spans [][2]int
	var w uint64
	run := 0 // bytes in the current window that occur in the secret
	for i := 0; i < len(s); i++ {
		c := lower(s[i])
		if !r.inKey[c] {
			run = 0
			continue
		}
		w = w<<8 | uint64(c)
		run++
		if run < MinRun {
			continue
		}
		if b := gramBit(w); r.filter[b>>6]&(1<<(b&63)) == 0 || !r.grams[w] {
			continue
		}
		start := i + 1 - MinRun
		if n := len(spans); n > 0 && spans[n-1][1] >= start {
			spans[n-1][1] = i + 1
		} else {
			spans = append(spans, [2]int{start, i + 1})
		}
	}
	return spans
}

func findWhole[T ~string | ~[]byte](r *Redactor, s T) [][2]int {
	var spans [][2]int
	n := len(r.secret)
	for i := 0; i+n <= len(s); i++ {
		if s[i] == esc {
			i = escapeEnd(s, i) - 1
			continue
		}
		if equalFold(s[i:i+n], r.secret) && (i == 0 || !isWord(s[i-1])) && (i+n == len(s) || !isWord(s[i+n])) {
			spans = append(spans, [2]int{i, i + n})
			i += n - 1
		}
	}
	return spans
}

const esc = 0x1b

// escapeEnd returns the end of the terminal escape sequence at s[i] (an
// ESC): a CSI (ESC [ parameters, final byte @ to ~), an OSC (ESC ] up to
// BEL or ESC \), or ESC and one byte.
func escapeEnd[T ~string | ~[]byte](s T, i int) int {
	j := i + 1
	if j >= len(s) {
		return j
	}
	switch s[j] {
	case '[':
		for j++; j < len(s); j++ {
			if 0x40 <= s[j] && s[j] <= 0x7e {
				return j + 1
			}
		}
		return j
	case ']':
		for j++; j < len(s); j++ {
			if s[j] == 0x07 {
				return j + 1
			}
			if s[j] == esc && j+1 < len(s) && s[j+1] == '\\' {
				return j + 2
			}
		}
		return j
	}
	return j + 1
}

// isWord reports an ASCII letter, digit or underscore.
func isWord(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// pack packs MinRun bytes into a word, as find's rolling window does.
// gramBit is a window's bit in Redactor.filter (16 bits of a
// multiplicative hash).
func gramBit(w uint64) uint64 { return (w * 0x9E3779B97F4A7C15) >> 48 }

func pack(s string) uint64 {
	var w uint64
	for i := 0; i < len(s); i++ {
		w = w<<8 | uint64(s[i])
	}
	return w
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}

// equalFold compares a with the lower-cased b without ASCII case.
func equalFold[T ~string | ~[]byte](a T, b string) bool {
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != b[i] {
			return false
		}
	}
	return true
}
