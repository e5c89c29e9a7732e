package runview

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rivo/uniseg"
	"github.com/schollz/progressbar/v3"
)

// MinWidth is the narrowest terminal the line is laid out for; narrower
// terminals get the 40-column line cut to fit.
const MinWidth = 40

// minBarWidth is the space a bar needs to be worth showing, and barFrom the
// terminal width from which one is shown.
const (
	minBarWidth = 10
	maxBarWidth = 30
	barFrom     = 72
)

// sep separates long fields; short ones are separated by a space.
const sep = " · "

// field is one part of the line: a long and a short form, and a priority
// (higher stays longer when the line must shrink).
type field struct {
	long, short string
	prio        int
}

// Line lays f out for a terminal width columns wide. The result never
// takes more than width-1 columns (the last column is left empty so that no
// terminal wraps), dropping fields as the width shrinks: first the long
// forms, then zero counters, then the least important fields.
func Line(f Figures, width int) string {
	usable := max(width, MinWidth) - 1
	head := headText(f)
	fields := lineFields(f)

	// Candidates from richest to barest; the first that fits wins. Each
	// set of fields is tried in long then short forms before the weakest
	// field is dropped.
	set := append([]field(nil), fields...)
	for {
		for _, short := range []bool{false, true} {
			body := join(set, short)
			if s, ok := withBar(f, head, body, width, usable); ok {
				return s
			}
			if s := head + body; uniseg.StringWidth(s) <= usable {
				return s
			}
		}
		i := weakest(set)
		if i < 0 {
			break
		}
		set = append(set[:i], set[i+1:]...)
	}
	return cut(head+join(set, true), usable)
}

// headText is the percentage (or the state when it is unknown).
func headText(f Figures) string {
	p := f.Percent()
	switch {
	case p >= 0 && f.State != StateRunning && f.State != StateFinished:
		return fmt.Sprintf("%s %d%%", f.State, p)
	case p >= 0:
		return fmt.Sprintf("%d%%", p)
	case f.State == StateRunning:
		return "running"
	}
	return f.State
}

func lineFields(f Figures) []field {
	var fs []field
	rows, rowsShort := humanInt(f.JobRows), compactInt(f.JobRows)
	if f.RowsTotal > 0 {
		rows += "/" + humanInt(f.RowsTotal)
		rowsShort += "/" + compactInt(f.RowsTotal)
	}
	fs = append(fs, field{rows + " rows", rowsShort, 100})
	switch eta, ok := f.ETA(); {
	case f.State == StateFinished:
		d := f.Elapsed.Round(time.Second).String()
		fs = append(fs, field{"done in " + d, "in " + d, 60})
	case ok:
		fs = append(fs, field{"ETA " + eta.String(), "ETA:" + eta.String(), 80})
	case f.State == StateRunning:
		fs = append(fs, field{"ETA --", "ETA:--", 10})
	}
	r := int64(f.Rate() + 0.5)
	fs = append(fs, field{humanInt(r) + " rows/s", compactInt(r) + "/s", 70})
	fs = append(fs, field{"paid " + humanInt(f.RunPaid), "paid:" + compactInt(f.RunPaid), 90})
	if f.MaxCalls > 0 {
		budget := humanInt(f.RunCalls) + "/" + humanInt(f.MaxCalls)
		fs = append(fs, field{"calls " + budget, "calls:" + compactInt(f.RunCalls) + "/" + compactInt(f.MaxCalls), 85})
	}
	counter := func(long, short string, n int64, prio int) {
		if n == 0 {
			prio -= 40 // zeros go first
		}
		fs = append(fs, field{long + " " + humanInt(n), short + ":" + compactInt(n), prio})
	}
	counter("429s", "429", f.Run429, 65)
	counter("parked", "park", int64(f.Parked), 55)
	counter("cache hits", "cache", f.JobCache, 50)
	counter("dupes", "dup", f.JobDupes, 45)
	return fs
}

func join(set []field, short bool) string {
	var b strings.Builder
	for _, f := range set {
		if short {
			b.WriteString(" ")
		} else {
			b.WriteString(sep)
		}
		if short {
			b.WriteString(f.short)
		} else {
			b.WriteString(f.long)
		}
	}
	return b.String()
}

// weakest is the index of the droppable field with the lowest priority,
// -1 when only the rows field is left.
func weakest(set []field) int {
	at := -1
	for i, f := range set {
		if f.prio >= 100 {
			continue
		}
		if at < 0 || f.prio < set[at].prio {
			at = i
		}
	}
	return at
}

// withBar renders the line with a bar drawn by progressbar, when the
// terminal is wide enough and the fraction is known.
func withBar(f Figures, head, body string, width, usable int) (string, bool) {
	frac, ok := f.Fraction()
	if !ok || width < barFrom {
		return "", false
	}
	// progressbar lays out "  13% |████    |  <description>"; the
	// description here is the fields after the percentage.
	const overhead = 4 + 1 + 2 + 2 // "NNN%", space, bar ends, two spaces
	prefix := ""
	if f.State != StateRunning && f.State != StateFinished {
		prefix = f.State + " "
	}
	desc := strings.TrimPrefix(strings.TrimPrefix(body, sep), " ")
	bw := usable - overhead - uniseg.StringWidth(prefix) - uniseg.StringWidth(desc)
	if bw < minBarWidth {
		return "", false
	}
	bw = min(bw, maxBarWidth)
	const scale = 1000
	bar := progressbar.NewOptions64(scale,
		progressbar.OptionSetWriter(io.Discard),
		progressbar.OptionSetWidth(bw),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionThrottle(0),
	)
	n := int64(frac * scale)
	if f.State != StateFinished {
		n = min(n, scale-1) // progressbar would call it finished (100 %)
	}
	if err := bar.Set64(n); err != nil {
		return "", false
	}
	s := strings.TrimRight(strings.TrimLeft(bar.String(), "\r"), " ")
	s = prefix + strings.TrimLeft(s, " ")
	if uniseg.StringWidth(s) > usable {
		return "", false
	}
	return s, true
}

// cut shortens s to at most n columns.
func cut(s string, n int) string {
	if uniseg.StringWidth(s) <= n {
		return s
	}
	var b strings.Builder
	w := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		cw := g.Width()
		if w+cw > n {
			break
		}
		b.WriteString(g.Str())
		w += cw
	}
	return b.String()
}

// compactInt writes n exactly below 10,000 and as 12.3k or 4.5M above.
func compactInt(n int64) string {
	switch {
	case n < 10_000:
		return humanInt(n)
	case n < 1_000_000:
		return trimZero(strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64)) + "k"
	}
	return trimZero(strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64)) + "M"
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// humanInt writes n with thousands separators.
func humanInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
