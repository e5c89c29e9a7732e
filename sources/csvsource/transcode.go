package csvsource

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// pieceBytes bounds the input a transcoder decodes at once when a line is
// longer.
const pieceBytes = 64 << 10

// transcoder decodes an input that is not UTF-8 into UTF-8 for the record
// reader, cutting the input at every line break so that it can tell, for
// any decoded offset at a line break, the offset in the original input:
// cursors stay byte offsets of the original file, which a resume seeks to.
type transcoder struct {
	src  *bufio.Reader
	t    transform.Transformer
	unit int  // bytes per code unit: 2 for UTF-16, else 1
	be   bool // UTF-16 big-endian
	term byte // the line break byte ('\n' or '\r')

	out   []byte // decoded bytes not yet read
	buf   []byte
	marks []mark // decoded end → original end of each piece, oldest first
	head  int    // marks[:head] are no longer needed
	dOff  int64  // decoded bytes produced
	oOff  int64  // original offset consumed (starts at the resume offset)
	err   error
}

// mark pairs the decoded and the original offset at a piece's end.
type mark struct{ d, o int64 }

func newTranscoder(src *bufio.Reader, enc encoding.Encoding, canon string, term byte, base int64) *transcoder {
	tc := &transcoder{src: src, t: enc.NewDecoder(), unit: 1, term: term, oOff: base}
	switch canon {
	case UTF16LE:
		tc.unit = 2
	case UTF16BE:
		tc.unit, tc.be = 2, true
	}
	tc.marks = append(tc.marks, mark{0, base})
	return tc
}

// Read implements io.Reader over the decoded stream.
func (tc *transcoder) Read(p []byte) (int, error) {
	for len(tc.out) == 0 {
		if tc.err != nil {
			return 0, tc.err
		}
		tc.fill()
	}
	n := copy(p, tc.out)
	tc.out = tc.out[n:]
	return n, nil
}

// fill decodes the next piece: the input up to and including the next
// line break, or pieceBytes of a longer line.
func (tc *transcoder) fill() {
	b, err := tc.src.Peek(pieceBytes)
	eof := false
	switch {
	case err == nil, errors.Is(err, bufio.ErrBufferFull):
	case err == io.EOF:
		eof = true
	default:
		tc.err = err
		return
	}
	if len(b) == 0 {
		tc.err = io.EOF
		return
	}
	end, atBreak := tc.lineEnd(b)
	if !atBreak && eof {
		end = len(b) // an odd byte at the end of UTF-16 decodes as U+FFFD
	}
	piece := b[:end]
	if need := 4*len(piece) + 16; cap(tc.buf) < need {
		tc.buf = make([]byte, need)
	}
	final := atBreak || eof
	nDst, nSrc, terr := tc.t.Transform(tc.buf[:cap(tc.buf)], piece, final)
	if terr != nil && !errors.Is(terr, transform.ErrShortSrc) {
		tc.err = terr
		return
	}
	if nSrc == 0 {
		tc.err = io.ErrUnexpectedEOF // a piece always holds a whole character
		return
	}
	if final {
		tc.t.Reset()
	}
	_, _ = tc.src.Discard(nSrc)
	tc.out = tc.buf[:nDst]
	tc.dOff += int64(nDst)
	tc.oOff += int64(nSrc)
	tc.marks = append(tc.marks, mark{tc.dOff, tc.oOff})
}

// lineEnd returns the length of the piece to decode from b: through the
// first line break, else all of b (whole code units).
func (tc *transcoder) lineEnd(b []byte) (int, bool) {
	if tc.unit == 1 {
		if i := bytes.IndexByte(b, tc.term); i >= 0 {
			return i + 1, true
		}
		return len(b), false
	}
	for i := 0; i+1 < len(b); i += 2 {
		lo, hi := b[i], b[i+1]
		if tc.be {
			lo, hi = hi, lo
		}
		if lo == tc.term && hi == 0 {
			return i + 2, true
		}
	}
	return len(b) &^ 1, false
}

// orig returns the original offset of decoded offset d, which must be at a
// piece end (every record ends at one) not before the last one asked for.
func (tc *transcoder) orig(d int64) int64 {
	i := tc.head
	for i+1 < len(tc.marks) && tc.marks[i+1].d <= d {
		i++
	}
	tc.head = i
	if i > 1024 && i > len(tc.marks)/2 {
		tc.marks = append(tc.marks[:0], tc.marks[i:]...)
		tc.head = 0
	}
	m := tc.marks[tc.head]
	return m.o + (d - m.d) // d == m.d except for a record cut inside a piece
}
