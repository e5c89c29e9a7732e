package runview

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"
)

func sample(state string) Figures {
	return Figures{
		State: state, JobRows: 123456, RunRows: 100000, BytesDone: 6_000_000, BytesTotal: 9_000_000,
		BytesStart: 1_000_000, Elapsed: 95 * time.Second, RunPaid: 98765, RunCalls: 99000, MaxCalls: 150000,
		JobCache: 4321, JobDupes: 999, Run429: 17, Parked: 3,
	}
}

func TestLineFitsEveryWidth(t *testing.T) {
	for _, state := range []string{StateRunning, StateStopped, StateFinished} {
		for _, f := range []Figures{sample(state), {State: state}, {State: state, JobRows: 5, RowsTotal: 10, RunRows: 5, Elapsed: time.Second}} {
			for w := MinWidth; w <= 220; w++ {
				s := Line(f, w)
				if got := uniseg.StringWidth(s); got > w-1 {
					t.Fatalf("%s at %d columns: %d wide: %q", state, w, got, s)
				}
				if strings.ContainsAny(s, "\r\n") {
					t.Fatalf("line holds a line break: %q", s)
				}
				if !strings.Contains(s, humanInt(f.JobRows)) && !strings.Contains(s, compactInt(f.JobRows)) {
					t.Fatalf("%s at %d columns: rows missing: %q", state, w, s)
				}
				if state != StateFinished && strings.Contains(s, "100%") {
					t.Fatalf("%s at %d columns shows 100 %%: %q", state, w, s)
				}
			}
		}
	}
}

func TestLineFieldsAtWidths(t *testing.T) {
	f := sample(StateRunning)
	wide := Line(f, 200)
	for _, want := range []string{"66%", "123,456 rows", "1,053 rows/s", "ETA 57s", "paid 98,765", "calls 99,000/150,000", "cache hits 4,321", "dupes 999", "429s 17", "parked 3", "█"} {
		if !strings.Contains(wide, want) {
			t.Errorf("200 columns: %q lacks %q", wide, want)
		}
	}
	narrow := Line(f, 40)
	for _, want := range []string{"66%", "123.5k", "calls:99k/150k"} {
		if !strings.Contains(narrow, want) {
			t.Errorf("40 columns: %q lacks %q", narrow, want)
		}
	}
	t.Logf("200: %s", wide)
	t.Logf(" 80: %s", Line(f, 80))
	t.Logf(" 40: %s", narrow)
}

func TestStoppedNeverFull(t *testing.T) {
	f := Figures{State: StateStopped, JobRows: 10, BytesDone: 100, BytesTotal: 100}
	if p := f.Percent(); p != 99 {
		t.Fatalf("stopped with every byte read: %d %%, want 99", p)
	}
	if s := Line(f, 80); !strings.HasPrefix(s, "stopped 99%") {
		t.Fatalf("stop frame %q", s)
	}
	f.State = StateFinished
	if s := Line(f, 80); !strings.Contains(s, "100%") {
		t.Fatalf("finished frame %q", s)
	}
}

func TestETA(t *testing.T) {
	// Resumed at row 500 of 1000; 250 rows in 10 s: 250 left at 25/s.
	f := Figures{State: StateRunning, JobRows: 750, RowsTotal: 1000, RunRows: 250, Elapsed: 10 * time.Second}
	if eta, ok := f.ETA(); !ok || eta != 10*time.Second {
		t.Fatalf("ETA %v %v, want 10s", eta, ok)
	}
	f.State = StateStopped
	if _, ok := f.ETA(); ok {
		t.Fatal("a stopped run has an ETA")
	}
}

func TestTerminalLogsAboveLine(t *testing.T) {
	var out bytes.Buffer
	width := 80
	term := NewTerminal(&out, func() int { return width })
	f := sample(StateRunning)
	term.Draw(f)
	term.Write([]byte("level=INFO msg=one\nlevel=INFO "))
	term.Write([]byte("msg=two\n"))
	width = 40
	term.Redraw()
	f.State = StateStopped
	term.Close(f)
	term.Write([]byte("after\n"))
	got := out.String()
	// Every log line starts on a cleared line and ends before a redraw.
	for _, want := range []string{clearLine + "level=INFO msg=one\n" + clearLine, clearLine + "level=INFO msg=two\n" + clearLine, clearLine + Line(f, 40) + "\nafter\n"} {
		if !strings.Contains(got, want) {
			t.Fatalf("output %q lacks %q", got, want)
		}
	}
}
