package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// gatedEmulator is the sandbox behind a gate: requests wait until open is
// called, so a run can be held "running" for as long as a test needs.
func gatedEmulator(t *testing.T) (url string, em *sandbox.Server, open func()) {
	t.Helper()
	s := sandbox.New(sandbox.DefaultOptions())
	gate := make(chan struct{})
	var once sync.Once
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		s.ServeHTTP(w, r)
	}))
	open = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { open(); s.Close(); ts.Close() })
	return ts.URL, s, open
}

type statusJSON struct {
	Job     string `json:"job"`
	Running *struct {
		PID   int       `json:"pid"`
		Since time.Time `json:"since"`
	} `json:"running"`
	RowsDone  int64            `json:"rows_done"`
	RowsTotal int64            `json:"rows_total"`
	Percent   *int             `json:"percent"`
	Rows      rowCounts        `json:"rows"`
	PaidCalls int64            `json:"paid_calls"`
	PaidBy    map[string]int64 `json:"paid_by_endpoint"`
	Handles   *int64           `json:"pending_handles"`
	LastError string           `json:"last_error"`
	Resume    string           `json:"resume_command"`
	Runs      int              `json:"runs"`
}

func status(t *testing.T, url, state string) statusJSON {
	t.Helper()
	r := mustRun(t, url, "status", "--state", state, "--json")
	var v statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("status output %q: %v", r.stdout, err)
	}
	return v
}

// TestStatusAndReportAcrossRuns: a job stopped by --max-calls, resumed
// (seen running by status and status --watch) and finished; status tells
// each state apart and report.json keeps both runs.
func TestStatusAndReportAcrossRuns(t *testing.T) {
	url, em, open := gatedEmulator(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 300, 0, 10, 5)
	out := filepath.Join(dir, "out.csv")
	state := out + ".state"
	args := []string{"run", "-i", in, "-o", out, "--verify", "--no-cache", "--progress", "none", "-w", "2"}

	open() // the first run goes through
	r := runBatch(t, url, append(args, "--max-calls", "40")...)
	if r.code != ExitResumable {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	v := status(t, url, state)
	if v.Job != "stopped" || v.Running != nil || v.Percent == nil || *v.Percent >= 100 || v.Runs != 1 {
		t.Errorf("after the stop: %+v", v)
	}
	if !strings.Contains(v.LastError, "--max-calls") || !strings.Contains(v.Resume, "batch run -i ") || !strings.Contains(v.Resume, "--max-calls 40") {
		t.Errorf("after the stop: last error %q, resume %q", v.LastError, v.Resume)
	}
	if v.Handles == nil || v.Rows.Final+v.Rows.Retryable+v.Rows.Pending != v.RowsDone {
		t.Errorf("rows by state %+v do not add up to %d done", v.Rows, v.RowsDone)
	}
	text := mustRun(t, url, "status", "--state", state).stdout
	for _, want := range []string{"job:        stopped", "resume:     batch run", "last error: "} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}
	billedFirst := v.PaidCalls

	// The second run, held at its first API call: status sees it running.
	url2, em2, open2 := gatedEmulator(t)
	run2 := batchCmd(t, url2, args...)
	var stderr2 bytes.Buffer
	run2.Stderr = &stderr2
	if err := run2.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() { exited <- exitStatus(t, run2.Wait()) }()
	deadline := time.Now().Add(2 * time.Minute) // a bound for a broken build, not a timing assumption
	for {
		v = status(t, url2, state)
		if v.Job == "running" && v.Running != nil && !v.Running.Since.IsZero() {
			break
		}
		select {
		case code := <-exited:
			t.Fatalf("the held run exited (%d) before status saw it running\n%s", code, stderr2.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never saw the run: %+v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v.Running == nil || v.Running.PID != run2.Process.Pid || v.Running.Since.IsZero() || v.Resume != "" {
		t.Errorf("running: %+v (pid %d)", v.Running, run2.Process.Pid)
	}
	watch := batchCmd(t, url2, "status", "--state", state, "--watch", "--interval", "10ms")
	var watchOut bytes.Buffer
	watch.Stdout = &watchOut
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	open2()
	if code := <-exited; code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr2.String())
	}
	if code := exitStatus(t, watch.Wait()); code != 0 {
		t.Fatalf("status --watch: exit %d", code)
	}
	if w := watchOut.String(); !strings.Contains(w, "job:        running (pid ") || !strings.HasSuffix(strings.TrimSpace(w[strings.LastIndex(w, "job:"):]), "") || !strings.Contains(w[strings.LastIndex(w, "job:"):], "job:        finished") {
		t.Errorf("status --watch should show the run, then end on its finish:\n%s", w)
	}

	v = status(t, url, state)
	billed := em.Counters().Billable[sandbox.EpVerify] + em2.Counters().Billable[sandbox.EpVerify]
	if v.Job != "finished" || v.Percent == nil || *v.Percent != 100 || v.RowsTotal != 300 || v.Runs != 2 || v.Resume != "" {
		t.Errorf("after the finish: %+v", v)
	}
	if v.PaidCalls != billed || v.PaidBy["verify"] != billed || billedFirst >= billed {
		t.Errorf("paid %d (%v), emulators billed %d (first run %d)", v.PaidCalls, v.PaidBy, billed, billedFirst)
	}

	// report.json keeps both runs.
	var rep struct {
		Status    string           `json:"status"`
		StartedAt string           `json:"started_at"`
		EndedAt   string           `json:"ended_at"`
		DurationS float64          `json:"duration_s"`
		Options   map[string]any   `json:"options"`
		Stages    []string         `json:"stages"`
		Input     string           `json:"input"`
		Output    string           `json:"output"`
		Rejects   string           `json:"rejects"`
		Rows      rowCounts        `json:"rows"`
		Verdicts  map[string]int64 `json:"verdicts"`
		PaidBy    map[string]int64 `json:"paid_by_endpoint"`
		Retries   *int64           `json:"retries_in_all"`
		HTTP429   *int64           `json:"http_429_in_all"`
		Runs      []runRecord      `json:"runs"`
	}
	b, err := os.ReadFile(filepath.Join(state, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	start, err1 := time.Parse(time.RFC3339, rep.StartedAt)
	end, err2 := time.Parse(time.RFC3339, rep.EndedAt)
	if err1 != nil || err2 != nil || end.Before(start) || rep.DurationS <= 0 {
		t.Errorf("report times %q .. %q (%v s): %v %v", rep.StartedAt, rep.EndedAt, rep.DurationS, err1, err2)
	}
	if rep.Status != "finished" || rep.Input != in || rep.Output != out || rep.Rejects != filepath.Join(dir, "out.rejects.csv") ||
		len(rep.Stages) != 1 || rep.Stages[0] != "verify" || rep.Options["verify"] != true {
		t.Errorf("report job fields: status %q input %q output %q rejects %q stages %v options %v", rep.Status, rep.Input, rep.Output, rep.Rejects, rep.Stages, rep.Options)
	}
	if rep.Rows.Done != 300 || rep.Rows.Final+rep.Rows.Retryable+rep.Rows.Pending != 300 || rep.PaidBy["verify"] != billed || rep.Retries == nil || rep.HTTP429 == nil {
		t.Errorf("report counts: rows %+v paid %v (billed %d)", rep.Rows, rep.PaidBy, billed)
	}
	var verdicts int64
	for _, n := range rep.Verdicts {
		verdicts += n
	}
	if verdicts == 0 {
		t.Errorf("report verdicts empty: %v", rep.Verdicts)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Status != "stopped" || rep.Runs[1].Status != "finished" {
		t.Fatalf("report runs: %+v", rep.Runs)
	}
	var paid, rows int64
	for _, run := range rep.Runs {
		paid += run.Paid
		rows += run.RowsDone
		if run.EndedAt == nil || run.EndedAt.Before(run.StartedAt) || len(run.Timeline) == 0 || len(run.Command) == 0 {
			t.Errorf("run record %+v", run)
		}
	}
	if paid != billed || rows != 300 || rep.Runs[0].MaxCalls != 40 || rep.Runs[0].Calls != 40 {
		t.Errorf("runs paid %d (billed %d), rows %d, first run max %d calls %d", paid, billed, rows, rep.Runs[0].MaxCalls, rep.Runs[0].Calls)
	}
}
