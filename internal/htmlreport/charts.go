package htmlreport

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Chart geometry (SVG user units; the page scales them to its width).
const (
	chartW    = 600
	labelW    = 170 // left column of a bar chart
	valueW    = 70  // right column: the value
	barRow    = 24
	barH      = 16
	labelMax  = 22 // characters of a label shown before an ellipsis
	lineH     = 220
	lineLeft  = 56
	lineRight = 40
	lineTop   = 16
	lineBot   = 34
)

// view is what the template draws.
type view struct {
	R         *Report
	Generated string
	Verdicts  barChart
	States    barChart
	Spend     barChart
	Domains   barChart
	Timelines []timeChart
	Runs      []runRow
}

// barChart is a horizontal bar chart.
type barChart struct {
	Name   string // data-chart
	Height int
	Total  int64
	Bars   []bar
}

// bar is one bar of a barChart.
type bar struct {
	Label, Short string // full label (tooltip, data-label) and as shown
	Group        string // data-group, e.g. paid or saved
	Value        int64
	Y            int     // top of the row
	W            float64 // bar length
	Color        string
}

// barChartOf lays out bars in the order given, scaled to the largest.
func barChartOf(name string, items []kv, color func(string) string, group func(string) string) barChart {
	c := barChart{Name: name, Height: len(items)*barRow + 8}
	var top int64
	for _, it := range items {
		c.Total += it.V
		top = max(top, it.V)
	}
	for i, it := range items {
		b := bar{Label: it.K, Short: shorten(it.K), Value: it.V, Y: 4 + i*barRow, Color: color(it.K)}
		if group != nil {
			b.Group = group(it.K)
		}
		if top > 0 {
			b.W = float64(chartW-labelW-valueW) * float64(it.V) / float64(top)
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}

func shorten(s string) string {
	r := []rune(s)
	if len(r) <= labelMax {
		return s
	}
	return string(r[:labelMax-1]) + "…"
}

// timeChart is one run's calls and 429s over time (cumulative).
type timeChart struct {
	Run            int // 1-based
	Calls, HTTP429 int64
	Samples        int
	CallsPts       string // polyline points
	ThrottledPts   string
	XMax, YMax     string // axis labels
	Y429Max        string // the right axis: 429s
	PlotW, PlotH   int
	X0, Y0         int
	YMid           int
	YMidLabel      string
	XMid           int
	XMidLabel      string
}

func timeChartOf(n int, run Run) timeChart {
	tc := timeChart{Run: n, Samples: len(run.Timeline), PlotW: chartW - lineLeft - lineRight, PlotH: lineH - lineTop - lineBot,
		X0: lineLeft, Y0: lineH - lineBot}
	var tMax float64
	var vMax, tMax429 int64
	for _, s := range run.Timeline {
		tMax = max(tMax, s.T)
		vMax = max(vMax, s.Calls)
		tMax429 = max(tMax429, s.HTTP429)
	}
	if k := len(run.Timeline); k > 0 {
		tc.Calls, tc.HTTP429 = run.Timeline[k-1].Calls, run.Timeline[k-1].HTTP429
	}
	if tMax <= 0 {
		tMax = 1
	}
	if vMax <= 0 {
		vMax = 1
	}
	if tMax429 <= 0 {
		tMax429 = 1
	}
	pts := func(v func(Sample) int64, vMax int64) string {
		var b strings.Builder
		for i, s := range run.Timeline {
			if i > 0 {
				b.WriteByte(' ')
			}
			x := float64(lineLeft) + float64(tc.PlotW)*s.T/tMax
			y := float64(tc.Y0) - float64(tc.PlotH)*float64(v(s))/float64(vMax)
			fmt.Fprintf(&b, "%.1f,%.1f", x, y)
		}
		return b.String()
	}
	// 429s are few beside calls: they get their own scale (right axis).
	tc.CallsPts = pts(func(s Sample) int64 { return s.Calls }, vMax)
	tc.ThrottledPts = pts(func(s Sample) int64 { return s.HTTP429 }, tMax429)
	tc.XMax, tc.YMax, tc.Y429Max = seconds(tMax), strconv.FormatInt(vMax, 10), strconv.FormatInt(tMax429, 10)
	tc.YMid, tc.YMidLabel = tc.Y0-tc.PlotH/2, strconv.FormatFloat(float64(vMax)/2, 'f', -1, 64)
	tc.XMid, tc.XMidLabel = lineLeft+tc.PlotW/2, seconds(tMax/2)
	return tc
}

func seconds(s float64) string {
	return (time.Duration(s*10) * time.Second / 10).String()
}

// runRow is one line of the run history.
type runRow struct {
	N                    int
	Started, Ended       string
	Duration             string
	Status, Error        string
	RowsFrom, RowsTo     int64
	Percent              string
	Calls, Paid, Retries int64
	HTTP429              int64
	PID                  int
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func build(r *Report) view {
	v := view{R: r, Generated: stamp(r.EndedAt)}
	v.Verdicts = barChartOf("verdicts", sortedBars(r.Verdicts), verdictColor, nil)
	states := map[string]int64{}
	for k, n := range r.Rows.ByState {
		states[k] = n
	}
	if r.Rows.Rejected > 0 {
		states["rejected"] = r.Rows.Rejected
	}
	v.States = barChartOf("rows", sortedBars(states), stateColor, nil)

	var spend []kv
	for _, it := range sortedBars(r.PaidBy) {
		spend = append(spend, kv{"paid " + it.K, it.V})
	}
	spend = append(spend, kv{"saved: duplicates", r.Saved.Duplicates}, kv{"saved: local checks", r.Saved.LocalChecks}, kv{"saved: cache", r.Saved.Cache})
	v.Spend = barChartOf("spend", spend, func(k string) string {
		if strings.HasPrefix(k, "saved") {
			return "#43a047"
		}
		return "#1e88e5"
	}, func(k string) string {
		if strings.HasPrefix(k, "saved") {
			return "saved"
		}
		return "paid"
	})

	doms := make([]kv, 0, len(r.TopDomains))
	for _, d := range r.TopDomains {
		doms = append(doms, kv{d.Domain, d.Rows})
	}
	v.Domains = barChartOf("domains", doms, func(string) string { return "#5e35b1" }, nil)

	for i, run := range r.Runs {
		v.Timelines = append(v.Timelines, timeChartOf(i+1, run))
		row := runRow{N: i + 1, Started: stamp(run.StartedAt), Duration: seconds(run.DurationS), Status: run.Status, Error: run.Error,
			RowsFrom: run.RowsAtStart, RowsTo: run.RowsAtStart + run.RowsDone, Calls: run.Calls, Paid: run.Paid,
			Retries: run.Retries, HTTP429: run.HTTP429, PID: run.PID, Ended: "—", Percent: "—"}
		if run.EndedAt != nil {
			row.Ended = stamp(*run.EndedAt)
		}
		if run.Percent != nil {
			row.Percent = strconv.Itoa(*run.Percent) + " %"
		}
		v.Runs = append(v.Runs, row)
	}
	return v
}

func verdictColor(v string) string {
	switch v {
	case "deliverable":
		return "#2e7d32"
	case "risky":
		return "#f9a825"
	case "catch_all":
		return "#ef6c00"
	case "undeliverable":
		return "#c62828"
	case "invalid":
		return "#6a1b9a"
	}
	return "#757575"
}

func stateColor(s string) string {
	switch s {
	case "ok":
		return "#2e7d32"
	case "not_found":
		return "#78909c"
	case "skipped":
		return "#b0bec5"
	case "invalid":
		return "#6a1b9a"
	case "refused":
		return "#c62828"
	case "pending":
		return "#f9a825"
	case "error":
		return "#b71c1c"
	case "rejected":
		return "#8d6e63"
	}
	return "#757575"
}
