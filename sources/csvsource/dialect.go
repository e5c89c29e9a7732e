package csvsource

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// SniffBytes is how much of an input's head Detect needs at most.
const SniffBytes = 1 << 20

// sniffLines is how many lines of the head the delimiter is sniffed from.
const sniffLines = 50

// Encoding names Detect gives.
const (
	UTF8        = "utf-8"
	UTF16LE     = "utf-16le"
	UTF16BE     = "utf-16be"
	Windows1252 = "windows-1252"
)

// LineEnd is how an input's records end.
type LineEnd string

// Line endings.
const (
	LF   LineEnd = "lf"   // "\n"
	CRLF LineEnd = "crlf" // "\r\n" (a "\n" alone also ends a record)
	CR   LineEnd = "cr"   // "\r" alone (old spreadsheets on the Mac); "\n" is data
)

// Delimiters lists the field separators Detect chooses from, in the order
// that breaks ties.
const Delimiters = ",;\t|"

// ErrUnsupportedEncoding is returned for an encoding name that
// golang.org/x/text does not know, or that cannot carry CSV (its line
// breaks, quotes and separators are not the ASCII bytes).
var ErrUnsupportedEncoding = errors.New("unsupported encoding")

// ErrBadDelimiter is returned for a delimiter that cannot separate CSV
// fields (a quote, a line break, or not one ASCII character).
var ErrBadDelimiter = errors.New("bad delimiter")

// Dialect is how an input is written: its field separator, character
// encoding, byte order mark and line endings. A zero field is detected
// from the input's head (see Detect); a resolved Dialect has every field
// set and is what a resumed run must be given again.
type Dialect struct {
	// Delimiter separates fields: one of Delimiters, or any other ASCII
	// byte but a quote or line break. 0 means sniff.
	Delimiter byte `json:"delimiter"`
	// Encoding is the input's character encoding, a name golang.org/x/text
	// knows (UTF8, UTF16LE, UTF16BE, Windows1252, "iso-8859-15", …).
	// "" means detect: the byte order mark, else UTF-8 when the head is
	// valid UTF-8, else Windows-1252.
	Encoding string `json:"encoding"`
	// BOM reports that the input starts with a byte order mark (set by
	// Detect).
	BOM bool `json:"bom"`
	// LineEnd is how records end ("" means detect).
	LineEnd LineEnd `json:"line_end"`
	// Note says why the encoding was chosen when it was a guess (set by
	// Detect), for the run to print.
	Note string `json:"-"`
}

// Resolved reports whether every field is set.
func (d Dialect) Resolved() bool { return d.Delimiter != 0 && d.Encoding != "" && d.LineEnd != "" }

// String describes the dialect in one line, e.g.
// `delimiter ";", encoding utf-8 with BOM, line ends crlf`.
func (d Dialect) String() string {
	delim := fmt.Sprintf("%q", string(d.Delimiter))
	if d.Delimiter == '\t' {
		delim = "tab"
	}
	bom := ""
	if d.BOM {
		bom = " with BOM"
	}
	return fmt.Sprintf("delimiter %s, encoding %s%s, line ends %s", delim, d.Encoding, bom, d.LineEnd)
}

// ParseDelimiter reads a --delimiter value: one ASCII character, or a
// name: comma, semicolon, tab (also `\t`), pipe.
func ParseDelimiter(s string) (byte, error) {
	switch strings.ToLower(s) {
	case "comma":
		return ',', nil
	case "semicolon":
		return ';', nil
	case "tab", `\t`:
		return '\t', nil
	case "pipe":
		return '|', nil
	}
	if len(s) != 1 || s[0] >= utf8.RuneSelf || s[0] == '"' || s[0] == '\r' || s[0] == '\n' {
		return 0, fmt.Errorf("%q: want one ASCII character other than a quote or line break, or comma, semicolon, tab, pipe: %w", s, ErrBadDelimiter)
	}
	return s[0], nil
}

// lookupEncoding returns the named encoding and its canonical name; a nil
// encoding means UTF-8 (no transcoding).
func lookupEncoding(name string) (encoding.Encoding, string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "utf-8", "utf8":
		return nil, UTF8, nil
	case "utf-16le", "utf16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), UTF16LE, nil
	case "utf-16be", "utf16be":
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), UTF16BE, nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252, Windows1252, nil
	case "utf-16", "utf16":
		return nil, "", fmt.Errorf("%q: name the byte order, utf-16le or utf-16be (a UTF-16 file with a byte order mark is detected by itself): %w", name, ErrUnsupportedEncoding)
	}
	enc, err := ianaindex.IANA.Encoding(n)
	if err != nil || enc == nil {
		enc, err = htmlindex.Get(n)
	}
	if err != nil || enc == nil {
		return nil, "", fmt.Errorf("%q: not an encoding golang.org/x/text knows: %w", name, ErrUnsupportedEncoding)
	}
	// The reader finds line breaks, quotes and separators as ASCII bytes in
	// the encoded input: refuse encodings that write them otherwise
	// (EBCDIC, UTF-32, …).
	const syntax = "\r\n\",;\t|"
	if b, err := enc.NewEncoder().String(syntax); err != nil || b != syntax {
		return nil, "", fmt.Errorf("%q: its line breaks and separators are not ASCII bytes: %w", name, ErrUnsupportedEncoding)
	}
	canon, err := ianaindex.IANA.Name(enc)
	if err != nil || canon == "" {
		canon = n
	}
	canon = strings.ToLower(canon)
	if canon == "utf-8" {
		return nil, UTF8, nil
	}
	return enc, canon, nil
}

// CheckEncoding reports whether name is an encoding the reader can use.
func CheckEncoding(name string) error {
	_, _, err := lookupEncoding(name)
	return err
}

// bomFor returns the byte order mark an input in encoding canon starts
// with, or nil.
func bomFor(canon string) []byte {
	switch canon {
	case UTF8:
		return []byte{0xEF, 0xBB, 0xBF}
	case UTF16LE:
		return []byte{0xFF, 0xFE}
	case UTF16BE:
		return []byte{0xFE, 0xFF}
	}
	return nil
}

// Detect resolves the zero fields of force from head, the first bytes of
// the input (up to SniffBytes; gzip is not undone here). The encoding is
// the byte order mark's, else UTF-8 when head is valid UTF-8, else
// Windows-1252 (with a Note); the line ending is the first one outside
// quotes; the delimiter is the one of Delimiters that splits the header
// and the next lines into the same number of fields most often (ties go
// to the earlier; none found means ","). An empty head gives UTF-8, LF
// and ",".
func Detect(head []byte, force Dialect) (Dialect, error) {
	d := force
	d.BOM = false
	if d.Delimiter != 0 {
		if _, err := ParseDelimiter(string(d.Delimiter)); err != nil {
			return Dialect{}, err
		}
	}
	switch {
	case d.Encoding != "":
		_, canon, err := lookupEncoding(d.Encoding)
		if err != nil {
			return Dialect{}, err
		}
		d.Encoding = canon
		d.BOM = len(bomFor(canon)) > 0 && bytes.HasPrefix(head, bomFor(canon))
	case bytes.HasPrefix(head, bomFor(UTF8)):
		d.Encoding, d.BOM = UTF8, true
	case bytes.HasPrefix(head, bomFor(UTF16LE)):
		d.Encoding, d.BOM = UTF16LE, true
	case bytes.HasPrefix(head, bomFor(UTF16BE)):
		d.Encoding, d.BOM = UTF16BE, true
	case validUTF8Head(head):
		d.Encoding = UTF8
	default:
		d.Encoding = Windows1252
		d.Note = "the input is not valid UTF-8: read as Windows-1252 (name another encoding to override)"
	}
	text := head
	if d.BOM {
		text = text[len(bomFor(d.Encoding)):]
	}
	if enc, _, _ := lookupEncoding(d.Encoding); enc != nil {
		text = decodeHead(enc, text)
	}
	if d.LineEnd == "" {
		d.LineEnd = sniffLineEnd(text)
	}
	if d.Delimiter == 0 {
		d.Delimiter = sniffDelimiter(text, d.LineEnd)
	}
	return d, nil
}

// DetectReader reads the head of r (gunzipping it when it starts with the
// gzip magic) and detects the dialect from it (see Detect).
func DetectReader(r io.Reader, force Dialect) (Dialect, error) {
	head, err := readHead(r)
	if err != nil {
		return Dialect{}, err
	}
	return Detect(head, force)
}

// readHead reads up to SniffBytes of r, decompressed when r is gzip (a
// gzip stream cut short still gives what it decoded).
func readHead(r io.Reader) ([]byte, error) {
	head := make([]byte, SniffBytes)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
		return nil, fmt.Errorf("csvsource: read the head of the input: %w", err)
	}
	head = head[:n]
	if !isGzip(head) {
		return head, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(head))
	if err != nil {
		return nil, fmt.Errorf("csvsource: gunzip the head of the input: %w", err)
	}
	out := make([]byte, SniffBytes)
	n, _ = io.ReadFull(zr, out) // a cut stream ends in an error after what it decoded
	return out[:n], nil
}

// validUTF8Head reports whether head is valid UTF-8, allowing a rune cut
// at its end (the head is usually a prefix of a longer input).
func validUTF8Head(head []byte) bool {
	if utf8.Valid(head) {
		return true
	}
	for k := 1; k < utf8.UTFMax && k <= len(head); k++ {
		if tail := head[len(head)-k:]; utf8.RuneStart(tail[0]) && !utf8.FullRune(tail) {
			return utf8.Valid(head[:len(head)-k])
		}
	}
	return false
}

// decodeHead transcodes the head of an input to UTF-8, dropping a
// character cut at its end.
func decodeHead(enc encoding.Encoding, b []byte) []byte {
	out, _ := enc.NewDecoder().Bytes(b)
	return out
}

// sniffLineEnd returns the first line ending outside quotes in text.
func sniffLineEnd(text []byte) LineEnd {
	quoted := false
	for i, b := range text {
		switch {
		case b == '"':
			quoted = !quoted
		case quoted:
		case b == '\n':
			return LF
		case b == '\r':
			if i+1 < len(text) && text[i+1] == '\n' {
				return CRLF
			}
			if i+1 < len(text) {
				return CR
			}
			return LF // a lone "\r" at the very end: nothing to tell
		}
	}
	return LF
}

// sniffDelimiter picks the delimiter that splits the first lines of text
// most consistently: a candidate must occur in the header; it scores the
// number of lines holding it as often as the header does, then the
// header's count.
func sniffDelimiter(text []byte, le LineEnd) byte {
	lines := splitLines(text, le, sniffLines)
	if len(lines) == 0 {
		return ','
	}
	best, bestScore, bestCount := byte(','), -1, 0
	for i := 0; i < len(Delimiters); i++ {
		c := Delimiters[i]
		n := countOutsideQuotes(lines[0], c)
		if n == 0 {
			continue
		}
		score := 0
		for _, l := range lines[1:] {
			if countOutsideQuotes(l, c) == n {
				score++
			}
		}
		if score > bestScore || score == bestScore && n > bestCount {
			best, bestScore, bestCount = c, score, n
		}
	}
	return best
}

// splitLines cuts text into at most max records at line ends outside
// quotes, dropping a last line that may be cut short and blank lines.
func splitLines(text []byte, le LineEnd, max int) [][]byte {
	term := byte('\n')
	if le == CR {
		term = '\r'
	}
	var lines [][]byte
	quoted, start := false, 0
	for i := 0; i < len(text) && len(lines) < max; i++ {
		switch b := text[i]; {
		case b == '"':
			quoted = !quoted
		case b == term && !quoted:
			if l := bytes.TrimRight(text[start:i], "\r"); len(l) > 0 {
				lines = append(lines, l)
			}
			start = i + 1
		}
	}
	if len(lines) == 0 && start < len(text) {
		lines = append(lines, text[start:]) // a single line: the header alone
	}
	return lines
}

// countOutsideQuotes counts c in line outside quoted stretches.
func countOutsideQuotes(line []byte, c byte) int {
	n, quoted := 0, false
	for _, b := range line {
		switch {
		case b == '"':
			quoted = !quoted
		case b == c && !quoted:
			n++
		}
	}
	return n
}
