package customeros_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/contactbatch/batch/customeros"
)

// Errors as the client returns them after its retries.
var (
	errRefused = &customeros.APIError{Endpoint: customeros.EndpointVerify, Attempts: 4,
		Err: fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})}
	errReset = &customeros.APIError{Endpoint: customeros.EndpointVerify, Attempts: 4,
		Err: fmt.Errorf("read: %w", os.NewSyscallError("read", syscall.ECONNRESET))}
	errDNS = &customeros.APIError{Endpoint: customeros.EndpointVerify,
		Err: &net.DNSError{Err: "no such host", Name: "api.example.invalid", IsNotFound: true}}
	err503  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 503, Message: "Service Unavailable", Retryable: true, Attempts: 4}
	err500  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 500, Retryable: true, Attempts: 4}
	err429  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 429, Retryable: true}
	err400  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 400, Err: customeros.ErrBadRequest}
	err422  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 422, Err: customeros.ErrBadRequest}
	err404  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 404, Err: customeros.ErrNotFound}
	err401  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 401, Err: customeros.ErrUnauthorized}
	err402  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Status: 402, Err: customeros.ErrPaymentRequired}
	errArg  = &customeros.APIError{Endpoint: customeros.EndpointVerify, Err: fmt.Errorf("%w: empty address", customeros.ErrInvalidArgument)}
	errBody = &customeros.APIError{Endpoint: customeros.EndpointVerify, Attempts: 4, Err: fmt.Errorf("%w: truncated body", customeros.ErrBadResponse)}
	errCanc = &customeros.APIError{Endpoint: customeros.EndpointVerify, Err: context.Canceled}
)

func TestTransientAndRefused(t *testing.T) {
	for _, tt := range []struct {
		name               string
		err                error
		transient, refused bool
	}{
		{"nil", nil, false, false},
		{"connection refused", errRefused, true, false},
		{"reset", errReset, true, false},
		{"dns not found", errDNS, true, false},
		{"503", err503, true, false},
		{"500", err500, true, false},
		{"429", err429, true, false},
		{"truncated body", errBody, true, false},
		{"404 without warning", err404, true, false},
		{"400", err400, false, true},
		{"422", err422, false, true},
		{"401", err401, false, false},
		{"402", err402, false, false},
		{"invalid argument", errArg, false, false},
		{"cancelled", errCanc, false, false},
		{"plain error", errors.New("boom"), true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := customeros.Transient(tt.err); got != tt.transient {
				t.Errorf("Transient = %v, want %v", got, tt.transient)
			}
			if got := customeros.Refused(tt.err); got != tt.refused {
				t.Errorf("Refused = %v, want %v", got, tt.refused)
			}
		})
	}
}

func TestRootCause(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{errRefused, "connection refused"},
		{errReset, "connection reset by peer"},
		{errDNS, "lookup api.example.invalid: no such host"},
		{err503, "HTTP 503: Service Unavailable"},
		{err500, "HTTP 500: Internal Server Error"},
		{errBody, "malformed response: truncated body"},
		{&customeros.APIError{Err: context.DeadlineExceeded}, "timeout"},
		{&customeros.APIError{Err: fmt.Errorf("get: %w", io.EOF)}, "connection closed without an answer"},
	} {
		if got := customeros.RootCause(tt.err); got != tt.want {
			t.Errorf("RootCause(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// outcome is one call's result fed to a breaker.
type outcome struct {
	ep  customeros.Endpoint
	key string
	err error
}

func fails(ep customeros.Endpoint, err error, keys ...string) []outcome {
	var out []outcome
	for _, k := range keys {
		out = append(out, outcome{ep, k, err})
	}
	return out
}

func oks(ep customeros.Endpoint, n int) []outcome {
	var out []outcome
	for i := range n {
		out = append(out, outcome{ep, fmt.Sprintf("ok%d", i), nil})
	}
	return out
}

func keys(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func seq(parts ...[]outcome) []outcome {
	var out []outcome
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestBreakerTransitions feeds outcome sequences to a breaker (streak 3,
// window 10, share 0.5) and checks after which outcome it opens, if ever.
func TestBreakerTransitions(t *testing.T) {
	v, o := customeros.EndpointVerify, customeros.EndpointOrganization
	for _, tt := range []struct {
		name   string
		in     []outcome
		openAt int // index of the outcome that opens it; -1 = stays closed
		msg    string
	}{
		{"successes stay closed", oks(v, 30), -1, ""},
		{"streak of different keys opens", fails(v, errRefused, "a", "b", "c"), 2,
			"API unreachable at http://api.test: connection refused (3 verify calls in a row failed); rerun the same command when it is back"},
		{"5xx streak says failing", fails(v, err503, "a", "b", "c"), 2,
			"API failing at http://api.test: HTTP 503: Service Unavailable (3 verify calls in a row failed)"},
		{"one key failing again does not lengthen the streak", fails(v, err500, "a", "a", "a", "a", "b"), -1, ""},
		{"a success ends the streak", seq(fails(v, errReset, "a", "b"), oks(v, 1), fails(v, errReset, "c", "d")), -1, ""},
		{"a refused input ends the streak", seq(fails(v, errReset, "a", "b"), fails(v, err400, "x"), fails(v, errReset, "c", "d")), -1, ""},
		{"429 is neither", seq(fails(v, errReset, "a", "b"), fails(v, err429, "x", "y"), fails(v, errReset, "c")), 4, "connection reset by peer"},
		{"auth and cancellation are not counted", seq(fails(v, errReset, "a", "b"), fails(v, err401, "x"), fails(v, errCanc, "y"), fails(v, errReset, "c")), 4, ""},
		{"endpoints count apart", seq(fails(v, errReset, "a", "b"), fails(o, errReset, "a", "b"), oks(v, 1), oks(o, 1)), -1, ""},
		{"second endpoint opens", seq(fails(v, errReset, "a", "b"), fails(o, errDNS, "a", "b", "c")), 4,
			"API unreachable at http://api.test: lookup api.example.invalid: no such host (3 organization calls in a row failed)"},
		{"share over a full window opens", seq(
			oks(v, 1), fails(v, err500, "a"), oks(v, 1), fails(v, err500, "b"), oks(v, 1), fails(v, err500, "c"),
			oks(v, 1), fails(v, err500, "d"), oks(v, 1), fails(v, err500, "e"),
		), 9, "5 of the last 10 verify calls failed"},
		{"share below half stays closed", seq(
			fails(v, err500, "a"), oks(v, 2), fails(v, err500, "b"), oks(v, 2), fails(v, err500, "c"),
			oks(v, 2), fails(v, err500, "d"), oks(v, 2), fails(v, err500, "e"), oks(v, 2),
		), -1, ""},
		{"the window slides", seq(
			fails(v, err500, "a"), fails(v, err500, "b"), oks(v, 10),
			fails(v, err500, "c"), oks(v, 1), fails(v, err500, "d"), oks(v, 1), fails(v, err500, "e"), oks(v, 1),
			fails(v, err500, "f"), oks(v, 1),
		), -1, ""},
		{"a gone poll handle is an answer", seq(fails(customeros.EndpointPersonPoll, errReset, "a", "b"),
			fails(customeros.EndpointPersonPoll, err404, "c", "d", "e"), fails(customeros.EndpointPersonPoll, errReset, "f")), -1, ""},
		{"undecodable bodies count", fails(v, errBody, "a", "b", "c"), 2, "malformed response: truncated body"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &customeros.Breaker{URL: "http://api.test", Streak: 3, Window: 10, Share: 0.5}
			opened := -1
			for i, oc := range tt.in {
				err := b.Record(oc.ep, oc.key, oc.err)
				if err != nil && opened < 0 {
					opened = i
				}
				if (err == nil) != (opened < 0) {
					t.Fatalf("outcome %d: Record = %v after the breaker opened at %d", i, err, opened)
				}
			}
			if opened != tt.openAt {
				t.Fatalf("opened at outcome %d, want %d (Err = %v)", opened, tt.openAt, b.Err())
			}
			err := b.Err()
			if (err != nil) != (tt.openAt >= 0) {
				t.Fatalf("Err() = %v", err)
			}
			if err == nil {
				return
			}
			var oe *customeros.OutageError
			if !errors.As(err, &oe) {
				t.Fatalf("Err() = %T, want *OutageError", err)
			}
			if !strings.Contains(err.Error(), tt.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q, want one line containing %q", err, tt.msg)
			}
		})
	}
}

func TestBreakerDefaults(t *testing.T) {
	var b customeros.Breaker
	done := b.Context().Done()
	for i, k := range keys("k", customeros.DefaultBreakerStreak) {
		select {
		case <-done:
			t.Fatalf("Done closed after %d failures", i)
		default:
		}
		err := b.Record(customeros.EndpointPerson, k, errRefused)
		if (err != nil) != (i == customeros.DefaultBreakerStreak-1) {
			t.Fatalf("failure %d: Record = %v", i, err)
		}
	}
	<-done // closed by the opening failure (a hang here fails the test by its timeout)
	var oe *customeros.OutageError
	if !errors.As(context.Cause(b.Context()), &oe) {
		t.Errorf("cause of the breaker's context = %v, want the *OutageError", context.Cause(b.Context()))
	}
}

// TestBreakerBrokenAnswers: broken answers (cut short, unreadable) in a row
// on one endpoint open the breaker at the 8th, whatever keys they were for;
// a good answer between them starts the count again, and another
// endpoint's answers do not count.
func TestBreakerBrokenAnswers(t *testing.T) {
	broken := &customeros.APIError{Endpoint: customeros.EndpointVerify, Err: errors.New("truncated body")}
	var b customeros.Breaker
	b.URL = "http://api.test"
	for range 7 {
		b.Answer(customeros.EndpointVerify, true, broken)
	}
	b.Answer(customeros.EndpointVerify, false, nil)
	for range 7 {
		b.Answer(customeros.EndpointVerify, true, broken)
		b.Answer(customeros.EndpointPerson, true, broken)
	}
	if err := b.Err(); err != nil {
		t.Fatalf("open after 7 broken answers in a row: %v", err)
	}
	if b.Context().Err() != nil {
		t.Fatal("context cancelled while closed")
	}
	b.Answer(customeros.EndpointVerify, true, broken)
	var oe *customeros.OutageError
	if err := b.Err(); !errors.As(err, &oe) || !oe.Broken || oe.Endpoint != customeros.EndpointVerify || oe.Failed != 8 {
		t.Fatalf("after 8: %v", err)
	}
	const want = "API failing at http://api.test: its answers are cut short or unreadable (8 verify answers in a row); rerun the same command when it is back"
	if oe.Error() != want {
		t.Errorf("message %q\nwant      %q", oe.Error(), want)
	}
	if context.Cause(b.Context()) != oe {
		t.Error("the breaker's context is not cancelled with the outage")
	}
	if err := b.Record(customeros.EndpointVerify, "k", nil); err != oe {
		t.Errorf("Record once open = %v, want the outage", err)
	}
}
