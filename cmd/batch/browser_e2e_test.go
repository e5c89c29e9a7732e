package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/internal/htmlreport"
)

// chromiumPath finds Debian's chromium. Without it the browser tests skip,
// unless BATCH_REQUIRE_SERVICES is set (CI installs it), then they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BATCH_REQUIRE_SERVICES") != "" {
		t.Fatal("chromium not found and BATCH_REQUIRE_SERVICES is set (apt-get install chromium)")
	}
	t.Skip("chromium not found (apt-get install chromium); set BATCH_REQUIRE_SERVICES to make this a failure")
	return ""
}

// browser starts a headless chromium with a fresh profile and no
// background networking (without those flags it reaches out to the
// network on start).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// pageFigures is what the report page shows, read from its DOM.
type pageFigures struct {
	Charts map[string]struct {
		Total int64 `json:"total"`
		Bars  []struct {
			Label string  `json:"label"`
			Value int64   `json:"value"`
			Text  string  `json:"text"`  // the number drawn beside the bar
			Width float64 `json:"width"` // the bar as rendered, in CSS pixels
		} `json:"bars"`
	} `json:"charts"`
	Timelines []struct {
		Calls   int64 `json:"calls"`
		HTTP429 int64 `json:"http429"`
		Points  int   `json:"points"`
	} `json:"timelines"`
	Runs []struct {
		Status string `json:"status"`
		Calls  int64  `json:"calls"`
		Paid   int64  `json:"paid"`
	} `json:"runs"`
	Rejects []struct {
		Reason string `json:"reason"`
		Rows   int64  `json:"rows"`
		Lines  string `json:"lines"`
	} `json:"rejects"`
	KPIs   map[string]string `json:"kpis"`
	Active int               `json:"active"` // img, script, iframe, object, embed elements
}

const readFiguresJS = `(() => {
  const charts = {};
  document.querySelectorAll('svg[data-chart]:not([data-chart=timeline])').forEach(svg => {
    charts[svg.dataset.chart] = {total: +svg.dataset.total, bars: [...svg.querySelectorAll('g[data-label]')].map(g => {
      const texts = g.querySelectorAll('text');
      return {label: g.dataset.label, value: +g.dataset.value, text: texts[texts.length-1].textContent,
        width: g.querySelector('rect').getBoundingClientRect().width};
    })};
  });
  const timelines = [...document.querySelectorAll('svg[data-chart=timeline]')].map(s => {
    const pl = s.querySelector('polyline[data-series=calls]');
    return {calls: +s.dataset.calls, http429: +s.dataset.http429, points: pl ? pl.getAttribute('points').split(' ').length : 0,
      width: s.getBoundingClientRect().width};
  });
  const runs = [...document.querySelectorAll('#runs tbody tr')].map(tr => ({status: tr.dataset.status, calls: +tr.dataset.calls, paid: +tr.dataset.paid}));
  const rejects = [...document.querySelectorAll('#rejects tbody tr')].map(tr => ({reason: tr.dataset.reason, rows: +tr.dataset.rows, lines: tr.querySelector('.lines').textContent}));
  const kpis = {};
  document.querySelectorAll('[data-kpi]').forEach(b => kpis[b.dataset.kpi] = b.textContent);
  return {charts, timelines, runs, rejects, kpis, active: document.querySelectorAll('img, script, iframe, object, embed').length};
})()`

// TestHTMLReportInBrowser runs a job in two runs (stopped by --max-calls
// against a rate-limited emulator, then finished), loads its report.html
// in headless chromium and checks that the page loads without a console
// error, that every chart's numbers are report.json's, that user data
// (a domain holding markup) stays text, and takes a screenshot.
func TestHTMLReportInBrowser(t *testing.T) {
	ctx := browser(t)
	opts := sandbox.DefaultOptions()
	opts.RateLimit, opts.RateBurst = 200, 5 // some 429s
	em := startEmulator(t, opts)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 240, 9, 13, 5)
	f, err := os.OpenFile(in, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	const evil = `x"><img src=x onerror=alert(1)>.com`
	for i := range 4 {
		w.Write([]string{fmt.Sprint(1000 + i), fmt.Sprintf("u%d@%s", i, evil), "First", "Last", "Evil", "evil.example"})
	}
	w.Flush()
	f.WriteString("2000,ragged\n2001,a@b.com,1,2,3,4,5,6\n")
	f.Close()

	out := filepath.Join(dir, "out.csv")
	page := filepath.Join(dir, "page.html")
	args := []string{"run", "-i", in, "-o", out, "--verify", "--enrich-org", "--no-cache", "--progress", "none", "--report-html", page}
	if r := runBatch(t, em.URL, append(args, "--max-calls", "80")...); r.code != 3 {
		t.Fatalf("first run: exit %d, want 3 (stopped by --max-calls)\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(page); err != nil {
		t.Fatalf("a stopped run wrote no HTML report: %v", err)
	}
	mustRun(t, em.URL, args...)
	if _, err := os.Stat(filepath.Join(out+".state", "report.html")); err == nil {
		t.Error("--report-html given, yet report.html was written in the state directory too")
	}

	var rep htmlreport.Report
	if err := json.Unmarshal(readFile(t, filepath.Join(out+".state", "report.json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || len(rep.RejectReasons) == 0 || len(rep.TopDomains) == 0 || !rep.DomainsComplete {
		t.Fatalf("report.json: %d runs, %d reject reasons, %d top domains (complete %v); want 2 runs and some of each",
			len(rep.Runs), len(rep.RejectReasons), len(rep.TopDomains), rep.DomainsComplete)
	}

	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[pageFigures](readFiguresJS))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if p := os.Getenv("BATCH_REPORT_SCREENSHOT"); p != "" { // to refresh docs/report-html.png
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Every console message the page caused comes before the marker.
	const marker = "batch-test-end"
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`console.info("`+marker+`")`)); err != nil {
		t.Fatal(err)
	}
	for m, err := range messages {
		if err != nil {
			t.Fatal(err)
		}
		if m.Text == marker {
			break
		}
		if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == chromedp.ConsoleWarning {
			t.Errorf("console %s", m)
		}
	}

	if got.Active != 0 {
		t.Errorf("the page holds %d img/script/iframe/object/embed elements (user data became markup?)", got.Active)
	}
	check := func(chart string, want map[string]int64) {
		t.Helper()
		c, ok := got.Charts[chart]
		if !ok {
			t.Errorf("no %s chart", chart)
			return
		}
		shown := map[string]int64{}
		var total int64
		for _, b := range c.Bars {
			shown[b.Label] = b.Value
			total += b.Value
			if b.Text != fmt.Sprint(b.Value) {
				t.Errorf("%s %q: drawn %q beside the bar, data-value %d", chart, b.Label, b.Text, b.Value)
			}
			if (b.Value > 0) != (b.Width > 0) {
				t.Errorf("%s %q: value %d rendered %.1f px wide", chart, b.Label, b.Value, b.Width)
			}
		}
		if c.Total != total {
			t.Errorf("%s: data-total %d, bars sum to %d", chart, c.Total, total)
		}
		for k, v := range want {
			if shown[k] != v {
				t.Errorf("%s %q: page shows %d, report.json %d", chart, k, shown[k], v)
			}
		}
		if len(shown) != len(want) {
			t.Errorf("%s: page shows %v, report.json has %v", chart, shown, want)
		}
	}
	check("verdicts", rep.Verdicts)
	states := map[string]int64{"rejected": rep.Rows.Rejected}
	for k, v := range rep.Rows.ByState {
		states[k] = v
	}
	check("rows", states)
	spend := map[string]int64{"saved: duplicates": rep.Saved.Duplicates, "saved: local checks": rep.Saved.LocalChecks, "saved: cache": rep.Saved.Cache}
	for k, v := range rep.PaidBy {
		spend["paid "+k] = v
	}
	check("spend", spend)
	domains := map[string]int64{}
	for _, d := range rep.TopDomains {
		domains[d.Domain] = d.Rows
	}
	check("domains", domains)
	if domains[evil] != 4 {
		t.Errorf("top domains lack %q with 4 rows: %v", evil, domains)
	}

	if len(got.Timelines) != len(rep.Runs) || len(got.Runs) != len(rep.Runs) {
		t.Fatalf("page shows %d timelines and %d history rows for %d runs", len(got.Timelines), len(got.Runs), len(rep.Runs))
	}
	var throttled int64
	for i, run := range rep.Runs {
		last := run.Timeline[len(run.Timeline)-1]
		tl := got.Timelines[i]
		if tl.Calls != last.Calls || tl.HTTP429 != last.HTTP429 || tl.Points != len(run.Timeline) {
			t.Errorf("run %d timeline: page %d calls, %d 429s, %d points; report.json %d, %d, %d samples",
				i+1, tl.Calls, tl.HTTP429, tl.Points, last.Calls, last.HTTP429, len(run.Timeline))
		}
		if last.Calls != run.Calls || last.HTTP429 != run.HTTP429 {
			t.Errorf("run %d: last sample %d calls, %d 429s; run %d calls, %d 429s", i+1, last.Calls, last.HTTP429, run.Calls, run.HTTP429)
		}
		if h := got.Runs[i]; h.Status != run.Status || h.Calls != run.Calls || h.Paid != run.Paid {
			t.Errorf("run %d history: page %+v, report.json %s %d calls %d paid", i+1, h, run.Status, run.Calls, run.Paid)
		}
		throttled += run.HTTP429
	}
	if got.Runs[0].Status != "stopped" || got.Runs[1].Status != "finished" {
		t.Errorf("history statuses: %+v", got.Runs)
	}
	t.Logf("429s over the runs: %d", throttled)

	if len(got.Rejects) != len(rep.RejectReasons) {
		t.Fatalf("page shows %d reject reasons, report.json %d", len(got.Rejects), len(rep.RejectReasons))
	}
	for i, rr := range rep.RejectReasons {
		lines := make([]string, len(rr.Lines))
		for j, l := range rr.Lines {
			lines[j] = fmt.Sprint(l)
		}
		if g := got.Rejects[i]; g.Reason != rr.Reason || g.Rows != rr.Rows || strings.TrimSuffix(g.Lines, " …") != strings.Join(lines, ", ") {
			t.Errorf("reject reason %d: page %+v, report.json %+v", i, g, rr)
		}
	}
	for k, v := range map[string]int64{"rows_done": rep.Rows.Done, "rejected": rep.Rows.Rejected, "paid": rep.PaidInAll, "http_429": rep.HTTP429All, "runs": int64(len(rep.Runs))} {
		if got.KPIs[k] != fmt.Sprint(v) {
			t.Errorf("summary %s: page %q, report.json %d", k, got.KPIs[k], v)
		}
	}
}
