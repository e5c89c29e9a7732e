package runview

import (
	"bytes"
	"io"
	"sync"
)

// Terminal keeps one progress line at the bottom of a terminal and lets
// log lines pass above it: every Write clears the line, writes the log
// text, and redraws the line below it. It is safe for concurrent use.
type Terminal struct {
	mu      sync.Mutex
	out     io.Writer
	width   func() int
	last    Figures
	drawn   bool // a frame is on screen
	closed  bool
	pending []byte // log text not yet ended by a newline
}

// clearLine returns to column 0 and erases the line.
const clearLine = "\r\x1b[2K"

// NewTerminal draws on out; width reports the terminal's current width in
// columns (asked at every frame, so a resize takes effect at once).
func NewTerminal(out io.Writer, width func() int) *Terminal {
	return &Terminal{out: out, width: width}
}

// Draw shows f, replacing the frame on screen.
func (t *Terminal) Draw(f Figures) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.last = f
	t.draw()
}

// Redraw draws the last frame again (after a resize).
func (t *Terminal) Redraw() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed && t.drawn {
		t.draw()
	}
}

func (t *Terminal) draw() {
	io.WriteString(t.out, clearLine+Line(t.last, t.width()))
	t.drawn = true
}

// Write prints log text above the progress line. Text is passed on line
// by line; a trailing partial line waits for its newline.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return t.out.Write(p)
	}
	t.pending = append(t.pending, p...)
	end := bytes.LastIndexByte(t.pending, '\n')
	if end < 0 {
		return len(p), nil
	}
	if t.drawn {
		io.WriteString(t.out, clearLine)
	}
	_, err := t.out.Write(t.pending[:end+1])
	t.pending = append(t.pending[:0], t.pending[end+1:]...)
	if t.drawn {
		t.draw()
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close draws f as the final frame and ends its line; later writes go
// straight to the terminal.
func (t *Terminal) Close(f Figures) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if len(t.pending) > 0 {
		if t.drawn {
			io.WriteString(t.out, clearLine)
		}
		t.out.Write(append(t.pending, '\n'))
		t.pending = nil
	}
	t.last = f
	t.draw()
	io.WriteString(t.out, "\n")
	t.closed = true
}
