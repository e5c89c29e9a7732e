package pipeline_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/customeros/pace"
	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
	"github.com/contactbatch/batch/sources/csvsource"
)

// contacts builds a CSV of n rows: every dupEvery-th row repeats an
// earlier address, every invalidEvery-th row has an invalid one.
func contacts(n, dupEvery, invalidEvery int) ([]byte, int) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"Email", "First Name", "Company"})
	unique := map[string]bool{}
	for i := range n {
		email := fmt.Sprintf("person%d@company%d.com", i, i%50)
		switch {
		case invalidEvery > 0 && i%invalidEvery == invalidEvery-1:
			email = fmt.Sprintf("broken%d.company.com", i)
		case dupEvery > 0 && i%dupEvery == dupEvery-1 && i > 10:
			email = fmt.Sprintf("person%d@company%d.com", i/2, (i/2)%50)
		}
		if strings.Contains(email, "@") {
			unique[email] = true
		}
		w.Write([]string{email, "P", fmt.Sprintf("Company %d", i%50)})
	}
	w.Flush()
	return b.Bytes(), len(unique)
}

type harness struct {
	t      *testing.T
	sb     *sandbox.Server
	url    string
	ledger *checkpoint.Ledger
	out    string
}

func newHarness(t *testing.T, opts sandbox.Options) *harness {
	t.Helper()
	sb := sandbox.New(opts)
	ts := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); ts.Close() })
	dir := t.TempDir()
	l, err := checkpoint.Open(context.Background(), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Start(context.Background(), checkpoint.Job{Identity: "test", Input: "mem"}); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, sb: sb, url: ts.URL, ledger: l, out: filepath.Join(dir, "out.csv")}
}

// config wires a run over input with the real parts.
func (h *harness) config(input []byte, st pipeline.Stages) (pipeline.Config, *customeros.Client) {
	t := h.t
	t.Helper()
	dec, err := csvsource.NewDecoder(bytes.NewReader(input), csvsource.Options{
		Origin:    "mem",
		MapHeader: func(hd []string) (contact.Mapping, error) { return contact.MapHeader(hd, nil) },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := filesink.DefaultOptions()
	opts.Schema = pipeline.ResultSchema(dec.Header(), st)
	sink, err := filesink.Open(h.out, opts, "")
	if err != nil {
		t.Fatal(err)
	}
	rej, err := filesink.OpenRejects(h.out+".rejects.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	client := customeros.New(h.url, "test-key")
	client.InitialBackoff, client.MaxBackoff = time.Millisecond, 20*time.Millisecond
	return pipeline.Config{
		Source: decoderSource{dec}, Sink: sink, Rejects: rej, Ledger: h.ledger, API: client,
		Checker: contact.NewChecker(), Stages: st, Workers: 8,
		PollInitial: 20 * time.Millisecond, PollMax: 100 * time.Millisecond,
	}, client
}

func run(t *testing.T, cfg pipeline.Config) (*pipeline.Runner, pipeline.Summary, error) {
	t.Helper()
	r, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := r.Run(ctx)
	return r, s, err
}

func TestOneCallPerUniqueKey(t *testing.T) {
	h := newHarness(t, sandbox.DefaultOptions())
	input, unique := contacts(2000, 3, 20)
	cfg, _ := h.config(input, pipeline.Stages{Verify: true})
	_, sum, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := h.sb.Counters()
	calls := c.Sent(sandbox.EpVerify)
	if calls != int64(unique) {
		t.Errorf("verify calls = %d, want %d (one per unique valid address)", calls, unique)
	}
	if n := c.RepeatedBillable[sandbox.EpVerify]; n != 0 {
		t.Errorf("repeated billable verify calls = %d, want 0", n)
	}
	if got := sum.Counters["rows_written"]; got != 2000 {
		t.Errorf("rows written = %d, want 2000", got)
	}
	// Every output row is there, in input order.
	f, err := os.Open(h.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2001 {
		t.Fatalf("output has %d lines, want 2001", len(recs))
	}
	want, _ := csv.NewReader(bytes.NewReader(input)).ReadAll()
	for i := 1; i < len(recs); i++ {
		if recs[i][0] != want[i][0] {
			t.Fatalf("row %d: email %q, want %q (order lost)", i, recs[i][0], want[i][0])
		}
	}
}

func TestMaxCallsNeverExceeded(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.Latency = 2 * time.Millisecond
	h := newHarness(t, opts)
	input, _ := contacts(500, 0, 0)
	cfg, _ := h.config(input, pipeline.Stages{Verify: true, EnrichOrg: true})
	cfg.Workers = 16
	cfg.MaxCalls = 37
	_, sum, err := run(t, cfg)
	if !errors.Is(err, pipeline.ErrStopped) || !errors.Is(err, pipeline.ErrBudget) {
		t.Fatalf("Run() = %v, want a resumable stop for the budget", err)
	}
	c := h.sb.Counters()
	sent := c.Sent(sandbox.EpVerify) + c.Sent(sandbox.EpOrganization)
	if sent > 37 {
		t.Errorf("paid requests = %d, want <= 37", sent)
	}
	if sum.Calls > 37 {
		t.Errorf("reserved calls = %d, want <= 37", sum.Calls)
	}
}

// TestPollingDoesNotHoldWorkers parks many more async lookups than there
// are workers: if waiting held a worker, no more than Workers lookups could
// ever be parked at once.
func TestPollingDoesNotHoldWorkers(t *testing.T) {
	// Every person lookup answers 202 and stays unfinished until the test
	// finishes them all: with 4 workers, all 200 can be parked at once only
	// if a parked lookup holds no worker. No timing is involved.
	opts := sandbox.DefaultOptions()
	opts.AsyncFraction = 1
	opts.AsyncDelay = time.Hour
	h := newHarness(t, opts)
	const rows = 200
	input, _ := contacts(rows, 0, 0)
	cfg, _ := h.config(input, pipeline.Stages{EnrichPerson: true})
	cfg.Workers = 4
	r, err := pipeline.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	type outcome struct {
		sum pipeline.Summary
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		sum, err := r.Run(ctx)
		done <- outcome{sum, err}
	}()
	for r.Snapshot().Parked < rows {
		select {
		case o := <-done:
			t.Fatalf("run ended (%v) with %d lookups parked, before all %d were", o.err, r.Snapshot().Parked, rows)
		case <-ctx.Done():
			t.Fatalf("only %d of %d lookups were ever parked at once with %d workers: parked lookups hold workers", r.Snapshot().Parked, rows, cfg.Workers)
		case <-time.After(5 * time.Millisecond):
		}
	}
	h.sb.FinishAsync()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if got := o.sum.Counters["person_ok"]; got != rows {
		t.Errorf("persons found = %d, want %d (counters %v)", got, rows, o.sum.Counters)
	}
}

func Test429StormSlowsSender(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.RateLimit = 100
	opts.RateBurst = 5
	h := newHarness(t, opts)
	input, _ := contacts(300, 0, 0)
	cfg, client := h.config(input, pipeline.Stages{Verify: true})
	cfg.Workers = 16
	pacer := pace.New(0)
	client.Pacer = pacer
	client.InitialBackoff, client.MaxBackoff = 50*time.Millisecond, time.Second
	_, _, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if lim := pacer.Limit(customeros.EndpointVerify); lim > 150 {
		t.Errorf("verify pace after a 429 storm = %.0f req/s, want it cut near the limit (100)", lim)
	}
	c := h.sb.Counters()
	ok, throttled := c.Requests[sandbox.EpVerify][200], c.Requests[sandbox.EpVerify][429]
	if ok != 300 {
		t.Errorf("verify 200s = %d, want 300", ok)
	}
	if throttled > ok/2 {
		t.Errorf("429s = %d for %d successes: the sender did not slow down", throttled, ok)
	}
}

// decoderSource makes a Decoder over memory a pipeline.Source.
type decoderSource struct{ *csvsource.Decoder }

func (decoderSource) Close() error { return nil }

func TestBulkVerifyJoinsResults(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.BulkDelay = 300 * time.Millisecond
	h := newHarness(t, opts)
	input, unique := contacts(1200, 4, 30)
	cfg, _ := h.config(input, pipeline.Stages{Verify: true})
	cfg.VerifyMode = "bulk"
	cfg.BulkSize = 500
	// A linger longer than any run of this test: batches are cut by size
	// and, once every key reached the bulker after the input ended, the
	// rest goes up in one batch, however slow the machine is.
	cfg.BulkLinger = time.Hour
	_, sum, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := h.sb.Counters()
	if n := c.Requests[sandbox.EpVerify]; len(n) != 0 {
		t.Errorf("single verify requests in bulk mode: %v", n)
	}
	var jobs int64
	for _, n := range c.Requests[sandbox.EpBulkSubmit] {
		jobs += n
	}
	if want := int64((unique + 499) / 500); jobs != want {
		t.Errorf("bulk jobs = %d, want %d for %d addresses", jobs, want, unique)
	}
	if got := c.Billable[sandbox.EpBulkSubmit] + c.Billable[sandbox.EpBulkDownload]; got > int64(unique) {
		t.Errorf("billable bulk records = %d, want <= %d", got, unique)
	}
	var verdicts int64
	for k, v := range sum.Counters {
		if strings.HasPrefix(string(k), "verdict_") {
			verdicts += v
		}
	}
	if verdicts != 1200 {
		t.Errorf("rows with a verdict = %d, want 1200 (counters %v)", verdicts, sum.Counters)
	}
	if sum.Counters["rows_error"] != 0 {
		t.Errorf("rows in error: %d", sum.Counters["rows_error"])
	}
}

func TestAsyncTimeoutWritesPending(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.AsyncFraction = 1
	opts.AsyncDelay = time.Hour
	h := newHarness(t, opts)
	input, _ := contacts(20, 0, 0)
	cfg, _ := h.config(input, pipeline.Stages{EnrichPerson: true})
	cfg.AsyncTimeout = 200 * time.Millisecond
	_, sum, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Counters["rows_pending"]; got != 20 {
		t.Errorf("pending rows = %d, want 20 (counters %v)", got, sum.Counters)
	}
	// The handles stay in the ledger for a later run.
	ps, err := h.ledger.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 20 {
		t.Errorf("pending handles in the ledger = %d, want 20", len(ps))
	}
}

// TestFailedKeyCalledOnce checks that rows sharing a key whose lookup
// failed this run get the error without another call, and that one key
// failing alone does not open the breaker.
func TestFailedKeyCalledOnce(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.Fail500 = 1 // every verify fails, retries included
	h := newHarness(t, opts)
	var b bytes.Buffer
	b.WriteString("Email\n")
	for range 50 {
		b.WriteString("same.person@firm.com\n")
	}
	cfg, client := h.config(b.Bytes(), pipeline.Stages{Verify: true})
	client.MaxAttempts = 2
	_, sum, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Counters["rows_error"]; got != 50 {
		t.Errorf("rows in error = %d, want 50", got)
	}
	calls := h.sb.Counters().Sent(sandbox.EpVerify)
	if calls != 4 {
		t.Errorf("verify requests = %d, want 4 (one lookup and its second try, one retry each)", calls)
	}
}

// TestOutageStopsResumably: with every call failing, the breaker stops the
// run resumably before any row is written, naming the URL and the cause;
// a run against the API once it is back finishes every row, paying for
// each address once.
func TestOutageStopsResumably(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.Fail503 = 1
	h := newHarness(t, opts)
	input, unique := contacts(400, 0, 0)
	cfg, client := h.config(input, pipeline.Stages{Verify: true})
	// Calls that fail slowly beside a reader that plans fast: every worker
	// has a key in flight when the first failure is seen.
	client.MaxAttempts, client.InitialBackoff, client.MaxBackoff = 2, 200*time.Millisecond, 200*time.Millisecond
	cfg.Breaker = &customeros.Breaker{URL: h.url}
	_, sum, err := run(t, cfg)
	var oe *customeros.OutageError
	if !errors.Is(err, pipeline.ErrStopped) || !errors.As(err, &oe) {
		t.Fatalf("Run() = %v, want a resumable stop for an outage", err)
	}
	if want := "API failing at " + h.url + ": HTTP 503: Service Unavailable"; !strings.Contains(err.Error(), want) {
		t.Errorf("stop cause %q, want it to contain %q", err, want)
	}
	if sum.Rows != 0 || sum.Counters["rows_written"] != 0 {
		t.Errorf("%d rows committed during an outage, want 0 (counters %v)", sum.Rows, sum.Counters)
	}
	if n := h.sb.Counters().Billable[sandbox.EpVerify]; n != 0 {
		t.Errorf("billable = %d during an outage", n)
	}

	clean := sandbox.New(sandbox.DefaultOptions())
	ts := httptest.NewServer(clean)
	defer func() { clean.Close(); ts.Close() }()
	h.url = ts.URL
	cfg, _ = h.config(input, pipeline.Stages{Verify: true})
	_, sum, err = run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counters["rows_ok"] != 400 {
		t.Errorf("rows ok after the API is back = %d, want 400", sum.Counters["rows_ok"])
	}
	if n := clean.Counters().Sent(sandbox.EpVerify); n != int64(unique) {
		t.Errorf("verify calls after the API is back = %d, want %d", n, unique)
	}
}

// TestMXLookupsConcurrent: with --check-mx, MX lookups of different domains
// run concurrently (not one at a time in the reader), rows stay in input
// order, and an address whose domain has no MX is invalid and not sent.
func TestMXLookupsConcurrent(t *testing.T) {
	h := newHarness(t, sandbox.DefaultOptions())
	input, _ := contacts(400, 0, 0) // 50 domains: company0..49.com
	cfg, _ := h.config(input, pipeline.Stages{Verify: true})
	var inflight, peak atomic.Int32
	second := make(chan struct{})
	var once sync.Once
	cfg.MX = &contact.MXChecker{LookupMX: func(ctx context.Context, domain string) ([]*net.MX, error) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n >= 2 {
			once.Do(func() { close(second) })
		}
		select { // the first lookup waits for a second one to start (sequential lookups would wait until the run's deadline)
		case <-second:
		case <-ctx.Done():
		}
		if domain == "company7.com" {
			return nil, &net.DNSError{Err: "no such host", Name: domain, IsNotFound: true}
		}
		return []*net.MX{{Host: "mx." + domain, Pref: 10}}, nil
	}}
	if _, _, err := run(t, cfg); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p < 2 {
		t.Fatalf("peak concurrent MX lookups = %d, want > 1", p)
	}
	f, err := os.Open(h.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 401 {
		t.Fatalf("%d output lines, want 401", len(rows))
	}
	calls := h.sb.Counters().Sent(sandbox.EpVerify)
	if calls != 392 { // 8 of the 400 addresses are at company7.com
		t.Fatalf("%d verify calls, want 392", calls)
	}
	for i, row := range rows[1:] {
		if want := fmt.Sprintf("person%d@company%d.com", i, i%50); row[0] != want {
			t.Fatalf("row %d is %q, want %q (input order)", i, row[0], want)
		}
	}
}

// TestRestartPaysOnlyForFailures: answers are cached as they arrive and
// failures are not, so starting a finished job over (its ledger reset, as
// --restart does) with the same cache pays only for the keys that failed.
func TestRestartPaysOnlyForFailures(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sandbox.DefaultOptions())
	input, unique := contacts(300, 0, 0)
	var failing []string
	for i := 3; i < 300; i += 41 {
		failing = append(failing, fmt.Sprintf("person%d@company%d.com", i, i%50))
	}
	h.sb.FailKeys(500, 1<<30, failing...)
	cache, err := checkpoint.OpenCache(ctx, filepath.Join(t.TempDir(), "cache.db"), checkpoint.DefaultTTLPolicy())
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	cfg, _ := h.config(input, pipeline.Stages{Verify: true})
	cfg.Cache = cache.ForRun(nil)
	_, sum, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	failed := sum.Counters["rows_error"]
	if failed != int64(len(failing)) {
		t.Fatalf("%d of %d rows failed, want the %d failing keys", failed, unique, len(failing))
	}

	if err := h.ledger.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.ledger.Start(ctx, checkpoint.Job{Identity: "test", Input: "mem"}); err != nil {
		t.Fatal(err)
	}
	clean := sandbox.New(sandbox.DefaultOptions()) // the API answers every call now
	ts := httptest.NewServer(clean)
	defer func() { clean.Close(); ts.Close() }()
	h.url = ts.URL
	cfg, _ = h.config(input, pipeline.Stages{Verify: true})
	cfg.Cache = cache.ForRun(nil)
	_, sum, err = run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := clean.Counters().Sent(sandbox.EpVerify)
	if calls != failed {
		t.Errorf("restart made %d verify calls, want %d (the failed keys)", calls, failed)
	}
	if got := sum.Counters["rows_error"]; got != 0 {
		t.Errorf("%d rows failed after the restart", got)
	}
	if got := sum.Counters["cache_hits"]; got != int64(unique)-failed {
		t.Errorf("cache hits = %d, want %d", got, int64(unique)-failed)
	}
}

// TestBulkTimeoutWritesPending: a bulk job not completed within
// AsyncTimeout leaves its rows pending (retryable) with the job kept in the
// ledger; a later pass polls the same job and pays for no new upload.
func TestBulkTimeoutWritesPending(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.BulkDelay = time.Hour // until FinishAsync
	h := newHarness(t, opts)
	input, unique := contacts(300, 0, 0)
	cfg, _ := h.config(input, pipeline.Stages{Verify: true})
	cfg.VerifyMode, cfg.BulkSize, cfg.BulkLinger = "bulk", 1000, time.Hour
	cfg.AsyncTimeout = 100 * time.Millisecond
	_, sum, err := run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Counters["rows_pending"]; got != 300 || pipeline.RetryableRows(sum.Counters) != 300 {
		t.Errorf("pending rows = %d, want 300 (counters %v)", got, sum.Counters)
	}
	ps, err := h.ledger.Pending(context.Background())
	if err != nil || len(ps) != 1 {
		t.Fatalf("pending handles = %d (%v), want the one bulk job", len(ps), err)
	}

	h.sb.FinishAsync()
	cfg, _ = h.config(input, pipeline.Stages{Verify: true})
	cfg.VerifyMode, cfg.BulkSize, cfg.BulkLinger = "bulk", 1000, time.Hour
	_, sum, err = run(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Counters["rows_pending"]; got != 0 {
		t.Errorf("pending rows after the job completed = %d (counters %v)", got, sum.Counters)
	}
	if n := h.sb.Counters().Sent(sandbox.EpBulkSubmit); n != 1 {
		t.Errorf("bulk uploads = %d, want 1 (the job is polled again, not uploaded)", n)
	}
	if got := h.sb.Counters().Billable[sandbox.EpBulkSubmit]; got > int64(unique) {
		t.Errorf("billable bulk records = %d, want <= %d", got, unique)
	}
}
