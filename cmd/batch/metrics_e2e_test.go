package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parseMetrics(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func metricValue(f *dto.MetricFamily, labels map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
				continue next
			}
		}
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

// TestMetrics scrapes /metrics during a run (held at its first API call)
// and parses the textfile written at exit with the client library's text
// parser; the figures match report.json.
func TestMetrics(t *testing.T) {
	url, em, open := gatedEmulator(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 120, 0, 10, 9)
	out := filepath.Join(dir, "out.csv")
	file := filepath.Join(dir, "batch.prom")
	cmd := batchCmd(t, url, "run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none",
		"--metrics-file", file, "--metrics-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := regexp.MustCompile(`msg="metrics listening" url=(\S+)`)
	sc := bufio.NewScanner(stderr)
	var metricsURL string
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			metricsURL = m[1]
			break
		}
	}
	if metricsURL == "" {
		t.Fatal("no metrics listening line")
	}
	go io.Copy(io.Discard, stderr)
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	fams := parseMetrics(t, resp.Body)
	resp.Body.Close()
	for _, name := range []string{"batch_rows_total", "batch_paid_calls_total", "batch_http_429_total"} {
		if fams[name] == nil {
			t.Errorf("scrape lacks %s: %v", name, fams)
		}
	}
	open()
	if code := exitStatus(t, cmd.Wait()); code != 0 {
		t.Fatalf("exit %d", code)
	}

	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fams = parseMetrics(t, f)
	var rep struct {
		Rows   rowCounts        `json:"rows"`
		PaidBy map[string]int64 `json:"paid_by_endpoint"`
		Runs   []runRecord      `json:"runs"`
	}
	b, err := os.ReadFile(filepath.Join(out+".state", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for state, n := range rep.Rows.ByState {
		if got, _ := metricValue(fams["batch_rows_total"], map[string]string{"state": state}); got != float64(n) {
			t.Errorf("batch_rows_total{state=%q} = %v, report %d", state, got, n)
		}
	}
	billed := em.Counters().Billable["verify"]
	if got, _ := metricValue(fams["batch_paid_calls_total"], nil); got != float64(billed) || rep.PaidBy["verify"] != billed {
		t.Errorf("batch_paid_calls_total = %v, report %v, emulator billed %d", got, rep.PaidBy, billed)
	}
	if got, ok := metricValue(fams["batch_api_calls_total"], map[string]string{"endpoint": "verify", "outcome": "ok"}); !ok || got != float64(rep.Runs[0].HTTPAttempts["verify"]) {
		t.Errorf("batch_api_calls_total{verify,ok} = %v, report attempts %v", got, rep.Runs[0].HTTPAttempts)
	}
	if got, ok := metricValue(fams["batch_run_last_success_timestamp_seconds"], nil); !ok || int64(got) != rep.Runs[0].EndedAt.Unix() {
		t.Errorf("batch_run_last_success_timestamp_seconds = %v, run ended %v", got, rep.Runs[0].EndedAt)
	}
}
