package customeros_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/customeros/sandbox"
)

const key = "sk-test-4f9a1c"

// newPair starts the sandbox on a real loopback server and a client with
// fast backoff.
func newPair(t *testing.T, opts sandbox.Options) (*sandbox.Server, *customeros.Client) {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	c := customeros.New(srv.URL, key)
	c.InitialBackoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return sb, c
}

func shapes() []string {
	return []string{sandbox.ShapeCurrent, sandbox.ShapeLegacy, sandbox.ShapeMixed}
}

func TestVerifyAgainstSandbox(t *testing.T) {
	tests := []struct {
		addr    string
		verdict customeros.Verdict
		reasons string
	}{
		{"valid.jane@acme.com", customeros.Deliverable, ""},
		{"valid.jane@gmail.com", customeros.Risky, "free_provider"},
		{"info@acme.com", customeros.Risky, "role"},
		{"bounce@acme.com", customeros.Undeliverable, "system_generated"},
		{"invalid.x@acme.com", customeros.Undeliverable, ""},
		{"fullbox@acme.com", customeros.Undeliverable, "mailbox_full"},
		{"someone@catchall-corp.com", customeros.CatchAll, ""},
		{"unknown.person@acme.com", customeros.Unknown, ""},
		{"valid.x@firewalled.com", customeros.Risky, "firewalled"},
		{"valid.x@alias-acme.com", customeros.Risky, "not_primary_domain"},
		{"not an email", customeros.Invalid, ""},
		{"two@@at.com", customeros.Invalid, ""},
	}
	for _, shape := range shapes() {
		t.Run(shape, func(t *testing.T) {
			sb, c := newPair(t, sandbox.Options{Shape: shape})
			for _, tt := range tests {
				v, err := c.VerifyEmail(context.Background(), tt.addr)
				if err != nil {
					t.Fatalf("%s: %v", tt.addr, err)
				}
				if v.Verdict != tt.verdict || strings.Join(v.Reasons, ",") != tt.reasons || v.Email != tt.addr {
					t.Errorf("%s: got %s %v (email %q), want %s [%s]", tt.addr, v.Verdict, v.Reasons, v.Email, tt.verdict, tt.reasons)
				}
				if len(v.Raw) == 0 {
					t.Errorf("%s: no raw body", tt.addr)
				}
			}
			if v, _ := c.VerifyEmail(context.Background(), "valid.x@alias-acme.com"); v.AlternateEmail != "valid.x@acme.com" {
				t.Errorf("alternate email = %q", v.AlternateEmail)
			}
			// Billing: not for unknown/catch-all/invalid (9 of 12, with the repeat above).
			cn := sb.Counters()
			if cn.Billable["verify"] != 9 || cn.RepeatedBillable["verify"] != 1 {
				t.Errorf("billable = %d, repeated = %d; want 9, 1", cn.Billable["verify"], cn.RepeatedBillable["verify"])
			}
		})
	}
}

func TestPersonAgainstSandbox(t *testing.T) {
	ctx := context.Background()
	for _, shape := range shapes() {
		t.Run(shape, func(t *testing.T) {
			sb, c := newPair(t, sandbox.Options{Shape: shape})
			r, err := c.EnrichPerson(ctx, customeros.PersonQuery{Email: "jane.doe@acme-corp.com", IncludeMobile: true})
			if err != nil {
				t.Fatal(err)
			}
			p := r.Person
			if !r.Found || !r.Complete || p.FullName != "Jane Doe" || p.Company != "Acme Corp" ||
				p.CompanyWebsite != "https://acme-corp.com" || len(p.Emails) != 1 || p.Emails[0].Address != "jane.doe@acme-corp.com" ||
				len(p.Phones) != 1 || !strings.HasPrefix(p.Phones[0], "+1415555") {
				t.Errorf("person = %+v, %+v", r, p)
			}
			r, err = c.EnrichPerson(ctx, customeros.PersonQuery{LinkedInURL: "https://www.linkedin.com/in/john-smith-42/"})
			if err != nil || !r.Found || r.Person.FirstName != "John" || r.Person.LastName != "Smith" ||
				len(r.Person.Emails) != 1 || !strings.HasPrefix(r.Person.Emails[0].Address, "john.smith@") {
				t.Errorf("by linkedin: %v %+v", err, r)
			}
			for _, q := range []string{"nobody@acme.com", "ghost.writer@acme.com"} {
				r, err = c.EnrichPerson(ctx, customeros.PersonQuery{Email: q})
				if err != nil || r.Found || r.Person != nil {
					t.Errorf("%s: want not found, got %v %+v", q, err, r)
				}
			}
			if got := sb.Counters().Billable["person"]; got != 2 {
				t.Errorf("billable person = %d, want 2", got)
			}
		})
	}
}

func TestPersonAsyncPoll(t *testing.T) {
	ctx := context.Background()
	for _, shape := range shapes() {
		t.Run(shape, func(t *testing.T) {
			sb, c := newPair(t, sandbox.Options{Shape: shape, AsyncFraction: 1, AsyncDelay: time.Hour})
			r, err := c.EnrichPerson(ctx, customeros.PersonQuery{Email: "jane.doe@acme.com"})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Found || r.Complete || r.ResultURL == "" || len(r.PendingFields) != 1 || r.Person.FullName != "Jane Doe" || len(r.Person.Emails) != 0 {
				t.Fatalf("202 result = %+v", r)
			}
			again, err := c.PollPerson(ctx, r.ResultURL)
			if err != nil || again.Complete {
				t.Fatalf("poll before delay: %v %+v", err, again)
			}
			// A server with no delay (same seed: the id's checksum holds)
			// completes it; the id is re-homed on BaseURL.
			sb2, c2 := newPair(t, sandbox.Options{Shape: shape, AsyncFraction: 1})
			done, err := c2.PollPerson(ctx, r.ResultURL)
			if err != nil || !done.Complete || len(done.Person.Emails) != 1 {
				t.Fatalf("poll after delay: %v %+v", err, done)
			}
			if sb2.Counters().Requests["person_poll"][200] != 1 || sb.Counters().Billable["person"] != 0 {
				t.Errorf("counters: %+v / %+v", sb2.Counters(), sb.Counters())
			}
			_, err = c.PollPerson(ctx, "https://elsewhere.example/enrich/v1/person/results/bogus")
			if !errors.Is(err, customeros.ErrNotFound) || attempts(c, customeros.EndpointPersonPoll) != 2 {
				t.Errorf("bogus id: %v, attempts %d", err, attempts(c, customeros.EndpointPersonPoll))
			}
		})
	}
}

func attempts(c *customeros.Client, ep customeros.Endpoint) int64 { return c.Stats().Attempts[ep] }

func TestOrganizationAgainstSandbox(t *testing.T) {
	ctx := context.Background()
	for _, shape := range shapes() {
		t.Run(shape, func(t *testing.T) {
			sb, c := newPair(t, sandbox.Options{Shape: shape})
			r, err := c.EnrichOrganization(ctx, customeros.OrganizationQuery{Domain: "acme-corp.com"})
			if err != nil || !r.Found || r.Organization.Name != "Acme Corp" || r.Organization.Website != "https://acme-corp.com" ||
				r.Organization.LinkedInURL != "https://www.linkedin.com/company/acme-corp" || r.Organization.Country == "" {
				t.Errorf("org: %v %+v", err, r)
			}
			r, err = c.EnrichOrganization(ctx, customeros.OrganizationQuery{LinkedInURL: "https://www.linkedin.com/company/globex"})
			if err != nil || !r.Found || r.Organization.Domain != "globex.com" {
				t.Errorf("org by linkedin: %v %+v", err, r)
			}
			for _, d := range []string{"unknown-co.com", "nonexistent.io"} {
				r, err = c.EnrichOrganization(ctx, customeros.OrganizationQuery{Domain: d})
				if err != nil || r.Found {
					t.Errorf("%s: want not found, got %v %+v", d, err, r)
				}
			}
			if got := sb.Counters().Billable["organization"]; got != 2 {
				t.Errorf("billable = %d", got)
			}
		})
	}
}

func TestBulkAgainstSandbox(t *testing.T) {
	ctx := context.Background()
	emails := []string{"valid.a@acme.com", "bounce@acme.com", "x@catchall.io", "valid.a@acme.com", "", "broken"}
	for _, shape := range shapes() {
		t.Run(shape, func(t *testing.T) {
			_, slow := newPair(t, sandbox.Options{Shape: shape, BulkDelay: time.Hour})
			job, err := slow.SubmitBulkVerify(ctx, emails)
			if err != nil {
				t.Fatal(err)
			}
			if shape == sandbox.ShapeCurrent && !strings.HasPrefix(job.ID, "api_") || shape == sandbox.ShapeLegacy && len(job.ID) != 36 {
				t.Errorf("job id %q for shape %s", job.ID, shape)
			}
			if st, err := slow.BulkVerifyStatus(ctx, job.ID); err != nil || st.Completed || st.JobID != job.ID {
				t.Errorf("status while processing: %v %+v", err, st)
			}
			if _, err := slow.DownloadBulkVerify(ctx, job.ID); !errors.Is(err, customeros.ErrNotReady) {
				t.Errorf("early download: %v", err)
			}
			if n := attempts(slow, customeros.EndpointBulkDownload); n != 1 {
				t.Errorf("not-ready download made %d attempts", n)
			}

			sb, c := newPair(t, sandbox.Options{Shape: shape})
			job, err = c.SubmitBulkVerify(ctx, emails)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.BulkVerifyStatus(ctx, job.ID)
			if err != nil || !st.Completed || st.Total != 4 || st.Deliverable != 1 || st.Undeliverable != 3 || st.DownloadURL == "" {
				t.Errorf("status: %v %+v", err, st)
			}
			vs, err := c.DownloadBulkVerify(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				got = append(got, v.Email+"="+string(v.Verdict))
			}
			want := "valid.a@acme.com=deliverable bounce@acme.com=undeliverable x@catchall.io=catch_all broken=invalid"
			if strings.Join(got, " ") != want {
				t.Errorf("download = %v", got)
			}
			if cn := sb.Counters(); cn.Billable["bulk_submit"] != 2 {
				t.Errorf("bulk billable = %d, want 2", cn.Billable["bulk_submit"])
			}
			if _, err := c.BulkVerifyStatus(ctx, "no-such-job"); !errors.Is(err, customeros.ErrNotFound) {
				t.Errorf("unknown job: %v", err)
			}
		})
	}
}

// TestFinalStatusesSentOnce: 400/401/402/403/404 are never retried.
func TestFinalStatusesSentOnce(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		is     error
	}{
		{400, `{"status":"error","message":"Missing parameter: adderss"}`, customeros.ErrBadRequest},
		{401, `{"errors":[{"message”":"Invalid api key"}]}`, customeros.ErrUnauthorized},
		{402, `{"status":"error","message":"no credits"}`, customeros.ErrPaymentRequired},
		{403, `{"status":"error","message":"forbidden"}`, customeros.ErrForbidden},
		{404, `{"status":"error","message":"Resource not found"}`, customeros.ErrNotFound},
		{422, `{"status":"error","message":"nope"}`, customeros.ErrBadRequest},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c := customeros.New(srv.URL, key)
			c.InitialBackoff = time.Millisecond
			_, err := c.VerifyEmail(context.Background(), "jane@acme.com")
			var ae *customeros.APIError
			if !errors.As(err, &ae) || !errors.Is(err, tt.is) || ae.Status != tt.status || ae.Retryable || ae.Attempts != 1 {
				t.Fatalf("err = %#v", err)
			}
			if hits.Load() != 1 || attempts(c, customeros.EndpointVerify) != 1 {
				t.Errorf("server saw %d requests, client counted %d", hits.Load(), attempts(c, customeros.EndpointVerify))
			}
			if strings.Contains(err.Error(), "jane") || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "http://") {
				t.Errorf("error leaks data: %q", err)
			}
		})
	}
}

func TestUnauthorizedAgainstSandbox(t *testing.T) {
	sb, _ := newPair(t, sandbox.Options{APIKey: "the-right-key"})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c := customeros.New(srv.URL, "the-wrong-key")
	_, err := c.EnrichPerson(context.Background(), customeros.PersonQuery{Email: "jane@acme.com"})
	if !errors.Is(err, customeros.ErrUnauthorized) || sb.Counters().Total != 1 {
		t.Fatalf("err = %v, total = %d", err, sb.Counters().Total)
	}
	if !strings.Contains(err.Error(), "Invalid api key") || strings.Contains(err.Error(), "the-wrong-key") {
		t.Errorf("message = %q", err)
	}
}

func TestCreditsExhausted(t *testing.T) {
	_, c := newPair(t, sandbox.Options{Credits: 2})
	ctx := context.Background()
	for i := range 2 {
		if _, err := c.VerifyEmail(ctx, fmt.Sprintf("valid.%d@acme.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.VerifyEmail(ctx, "valid.3@acme.com")
	if !errors.Is(err, customeros.ErrPaymentRequired) || attempts(c, customeros.EndpointVerify) != 3 {
		t.Fatalf("err = %v, attempts %d", err, attempts(c, customeros.EndpointVerify))
	}
}

// TestTransientFaultsRetried: every fault class is retried until success and
// the client's attempt count matches what the server saw.
func TestTransientFaultsRetried(t *testing.T) {
	faults := map[string]sandbox.Options{
		"500":      {Fail500: 0.5},
		"502":      {Fail502: 0.5},
		"503":      {Fail503: 0.3},
		"reset":    {Reset: 0.5},
		"truncate": {Truncate: 0.5},
		"hang":     {Hang: 0.3},
	}
	for name, opts := range faults {
		t.Run(name, func(t *testing.T) {
			sb, c := newPair(t, opts)
			// Only the hang case needs the attempt timeout; elsewhere a
			// generous one keeps a loaded machine from turning slow answers
			// into timeouts the server never saw.
			c.AttemptTimeout = 10 * time.Second
			if name == "hang" {
				c.AttemptTimeout = 200 * time.Millisecond
			}
			c.MaxAttempts = 12
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := c.VerifyEmail(ctx, fmt.Sprintf("valid.%d@acme.com", i))
					if err == nil && v.Verdict != customeros.Deliverable {
						err = fmt.Errorf("verdict %s", v.Verdict)
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			cn, st := sb.Counters(), c.Stats()
			if cn.Faults[name] == 0 {
				t.Errorf("no %s fault was injected", name)
			}
			// net/http itself resends a GET whose reused connection was
			// reset: those count as attempts (the server saw them) but are
			// not client retries.
			// A timed-out attempt, or one whose connection was reset, may
			// never have been counted by the server: there the client
			// counts at least what the server saw.
			attemptsOK := st.Attempts[customeros.EndpointVerify] == cn.Total
			if name == "hang" || name == "reset" {
				attemptsOK = st.Attempts[customeros.EndpointVerify] >= cn.Total
			}
			if !attemptsOK || st.Retries > st.Attempts[customeros.EndpointVerify]-20 || st.Retries == 0 && name != "reset" {
				t.Errorf("client attempts %d retries %d, server total %d", st.Attempts[customeros.EndpointVerify], st.Retries, cn.Total)
			}
		})
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	sb, c := newPair(t, sandbox.Options{Fail500: 1})
	_, err := c.VerifyEmail(context.Background(), "valid@acme.com")
	var ae *customeros.APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !ae.Retryable || ae.Attempts != customeros.DefaultMaxAttempts {
		t.Fatalf("err = %#v", err)
	}
	if sb.Counters().Total != customeros.DefaultMaxAttempts || ae.Message != "Unable to process request" {
		t.Errorf("server total %d, message %q", sb.Counters().Total, ae.Message)
	}
}

// TestBulkSubmitNotRetriedWhenAmbiguous: a 500 after upload may be a job.
func TestBulkSubmitRetryPolicy(t *testing.T) {
	ctx := context.Background()
	sb, c := newPair(t, sandbox.Options{Fail500: 1})
	_, err := c.SubmitBulkVerify(ctx, []string{"a@acme.com"})
	var ae *customeros.APIError
	if !errors.As(err, &ae) || !ae.Ambiguous || ae.Retryable || sb.Counters().Total != 1 {
		t.Fatalf("500: err = %#v, total %d", err, sb.Counters().Total)
	}
	sb, c = newPair(t, sandbox.Options{Fail503: 1})
	_, err = c.SubmitBulkVerify(ctx, []string{"a@acme.com"})
	if !errors.As(err, &ae) || ae.Ambiguous || sb.Counters().Total != customeros.DefaultMaxAttempts {
		t.Fatalf("503: err = %#v, total %d", err, sb.Counters().Total)
	}
	// Nothing listening: never sent, so retried.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c = customeros.New(dead.URL, key)
	c.InitialBackoff = time.Millisecond
	_, err = c.SubmitBulkVerify(ctx, []string{"a@acme.com"})
	if !errors.As(err, &ae) || ae.Ambiguous || ae.Attempts != customeros.DefaultMaxAttempts || ae.Status != 0 {
		t.Fatalf("refused: err = %#v", err)
	}
	if strings.Contains(err.Error(), "/verify") || strings.Contains(err.Error(), key) {
		t.Errorf("error leaks the URL or key: %q", err)
	}
}

// TestRetryAfterIsWaited runs the sandbox in-process under synctest's fake
// clock: the 429's Retry-After (2 s) must elapse before the retry.
func TestRetryAfterIsWaited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb := sandbox.New(sandbox.Options{RateLimit: 0.5, RateBurst: 1, Seed: 1})
		c := customeros.New("http://sandbox.test", key)
		c.HTTPClient = &http.Client{Transport: handlerTransport{sb}}
		c.InitialBackoff, c.MaxBackoff = time.Millisecond, time.Millisecond
		ctx := context.Background()
		if _, err := c.VerifyEmail(ctx, "valid.1@acme.com"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := c.VerifyEmail(ctx, "valid.2@acme.com"); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 2*time.Second {
			t.Errorf("retried after %v, want >= 2s", waited)
		}
		if st := c.Stats(); st.Throttled != 1 || st.Retries != 1 || st.ByStatus[429] != 1 {
			t.Errorf("stats = %+v", st)
		}
		if sb.Counters().Faults["429"] != 1 {
			t.Errorf("server 429s = %d", sb.Counters().Faults["429"])
		}
	})
}

func TestRetryAfterTooLongIsReturned(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := customeros.New(srv.URL, key)
	start := time.Now()
	_, err := c.VerifyEmail(context.Background(), "a@acme.com")
	var ae *customeros.APIError
	if !errors.As(err, &ae) || ae.RetryAfter < 59*time.Minute || !ae.Retryable || ae.Attempts != 1 {
		t.Fatalf("err = %#v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the client slept")
	}
}

func TestCrossHostRedirectRefused(t *testing.T) {
	var leaked atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(customeros.APIKeyHeader) != "" {
			leaked.Add(1)
		}
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := customeros.New(srv.URL, key)
	_, err := c.VerifyEmail(context.Background(), "jane@acme.com")
	if !errors.Is(err, customeros.ErrRedirect) || leaked.Load() != 0 || attempts(c, customeros.EndpointVerify) != 1 {
		t.Fatalf("err = %v, leaked %d", err, leaked.Load())
	}
	if strings.Contains(err.Error(), "jane") {
		t.Errorf("error leaks the query: %q", err)
	}
}

type recordingPacer struct {
	mu       sync.Mutex
	waits    int
	statuses []int
}

func (p *recordingPacer) Wait(ctx context.Context, ep customeros.Endpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waits++
	return ctx.Err()
}

func (p *recordingPacer) Observe(ep customeros.Endpoint, o customeros.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statuses = append(p.statuses, o.Status)
}

func TestPacerSeesEveryAttempt(t *testing.T) {
	_, c := newPair(t, sandbox.Options{Fail503: 0.5})
	p := &recordingPacer{}
	c.Pacer = p
	for i := range 10 {
		c.MaxAttempts = 20
		if _, err := c.VerifyEmail(context.Background(), fmt.Sprintf("valid.%d@acme.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	if int64(p.waits) != attempts(c, customeros.EndpointVerify) || len(p.statuses) != p.waits {
		t.Errorf("waits %d observes %d attempts %d", p.waits, len(p.statuses), attempts(c, customeros.EndpointVerify))
	}
}

func TestContextCanceled(t *testing.T) {
	_, c := newPair(t, sandbox.Options{Hang: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.VerifyEmail(ctx, "a@acme.com")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
