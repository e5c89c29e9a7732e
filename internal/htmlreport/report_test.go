package htmlreport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	end := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	return &Report{
		Status: "finished", Input: "in.csv", Output: "out.csv", Stages: []string{"verify"},
		StartedAt: end.Add(-time.Minute), EndedAt: end, DurationS: 60,
		Rows:     Rows{Done: 10, Final: 9, Retryable: 1, Rejected: 2, ByState: map[string]int64{"ok": 7, "error": 1}},
		Verdicts: map[string]int64{"deliverable": 5, "undeliverable": 2},
		PaidBy:   map[string]int64{"verify": 7}, PaidInAll: 7,
		Saved:           Saved{Duplicates: 2, LocalChecks: 1, Cache: 3},
		TopDomains:      []Domain{{`<script>alert(1)</script>.example`, 4}, {"b.example", 3}},
		DomainsComplete: true,
		RejectReasons:   []Reason{{Reason: `bad "quote" <img src=x onerror=alert(1)>`, Rows: 2, Lines: []int64{3, 9}}},
		Runs: []Run{{StartedAt: end.Add(-time.Minute), EndedAt: &end, DurationS: 60, Status: "finished", RowsDone: 10, Calls: 7, Paid: 7,
			Timeline: []Sample{{T: 0}, {T: 30, Calls: 4, HTTP429: 1}, {T: 60, Calls: 7, HTTP429: 1}}}},
	}
}

// TestRenderEscapesUserData: domains and reject reasons are user data; the
// page holds them escaped, and the charts carry the report's figures.
func TestRenderEscapesUserData(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"<script>", "<img src=x", `"quote"`} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q unescaped", bad)
		}
	}
	for _, want := range []string{
		`data-chart="verdicts" data-total="7"`,
		`data-label="deliverable" data-value="5"`,
		`data-label="paid verify" data-value="7" data-group="paid"`,
		`data-label="saved: cache" data-value="3" data-group="saved"`,
		`data-chart="timeline" data-run="1" data-calls="7" data-http429="1" data-samples="3"`,
		`data-label="&lt;script&gt;alert(1)&lt;/script&gt;.example" data-value="4"`,
		`<td class="lines">3, 9</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, net := range []string{"http://", "https://", "<script", "<link", "@import", "url("} {
		if strings.Contains(page, net) {
			t.Errorf("page refers to %q (it must be self-contained)", net)
		}
	}
}

// TestEmptyReport: a report with nothing in it (an early stop) renders.
func TestEmptyReport(t *testing.T) {
	r, err := Parse([]byte(`{"status":"stopped","runs":[{"status":"stopped","timeline":[]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.html")
	if err := WriteFile(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("No rows rejected.")) || !bytes.Contains(b, []byte("no samples")) {
		t.Errorf("empty sections not said:\n%s", b)
	}
}
