package contact_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactbatch/batch/contact"
)

// fakeDNS answers MX lookups from a table and counts them.
type fakeDNS struct {
	calls   atomic.Int64
	answers map[string]func() ([]*net.MX, error)
}

func (f *fakeDNS) lookup(ctx context.Context, domain string) ([]*net.MX, error) {
	f.calls.Add(1)
	if a, ok := f.answers[domain]; ok {
		return a()
	}
	return nil, &net.DNSError{Err: "no such host", Name: domain, IsNotFound: true}
}

func mx(hosts ...string) func() ([]*net.MX, error) {
	return func() ([]*net.MX, error) {
		var out []*net.MX
		for i, h := range hosts {
			out = append(out, &net.MX{Host: h, Pref: uint16(10 * (i + 1))})
		}
		return out, nil
	}
}

func TestHasMX(t *testing.T) {
	temporary := &net.DNSError{Err: "server misbehaving", Name: "flaky.example", IsTemporary: true}
	dns := &fakeDNS{answers: map[string]func() ([]*net.MX, error){
		"acme.com":   mx("mx1.acme.com.", "mx2.acme.com."),
		"nullmx.com": mx("."),
		"nomx.com":   mx(),
		"partial.com": func() ([]*net.MX, error) {
			return []*net.MX{{Host: "mx.partial.com."}}, errors.New("some records malformed")
		},
		"flaky.com":        func() ([]*net.MX, error) { return nil, temporary },
		"timeout.com":      func() ([]*net.MX, error) { return nil, &net.DNSError{Err: "i/o timeout", IsTimeout: true} },
		"xn--bcher-kva.de": mx("mx.xn--bcher-kva.de."),
	}}
	m := contact.NewMXChecker()
	m.LookupMX = dns.lookup

	tests := []struct {
		domain  string
		want    bool
		wantErr error // nil: no error; else errors.Is target
	}{
		{"acme.com", true, nil},
		{"ACME.com.", true, nil},
		{"xn--bcher-kva.de", true, nil},
		{"nullmx.com", false, nil},
		{"nomx.com", false, nil},
		{"partial.com", true, nil},
		{"missing.example", false, nil},
		{"", false, nil},
		{"flaky.com", false, temporary},
		{"timeout.com", false, errors.New("any")},
	}
	ctx := context.Background()
	for _, tt := range tests {
		got, err := m.HasMX(ctx, tt.domain)
		if got != tt.want || (err != nil) != (tt.wantErr != nil) {
			t.Errorf("HasMX(%q) = %v, %v, want %v, error %v", tt.domain, got, err, tt.want, tt.wantErr != nil)
		}
		if tt.wantErr == temporary && !errors.Is(err, temporary) {
			t.Errorf("HasMX(%q) error %v does not wrap the DNS error", tt.domain, err)
		}
	}

	// Answers are cached; errors are not.
	before := dns.calls.Load()
	for _, d := range []string{"acme.com", "nullmx.com", "missing.example"} {
		if _, err := m.HasMX(ctx, d); err != nil {
			t.Fatalf("HasMX(%q): %v", d, err)
		}
	}
	if n := dns.calls.Load() - before; n != 0 {
		t.Errorf("cached domains made %d more lookups, want 0", n)
	}
	if _, err := m.HasMX(ctx, "flaky.com"); err == nil {
		t.Errorf("HasMX(flaky.com) second call: want error")
	}
	if n := dns.calls.Load() - before; n != 1 {
		t.Errorf("failed domain made %d more lookups, want 1 (errors are not cached)", n)
	}
}

func TestHasMXConcurrentCallsShareOneLookup(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var calls atomic.Int64
	m := &contact.MXChecker{LookupMX: func(ctx context.Context, domain string) ([]*net.MX, error) {
		calls.Add(1)
		started <- struct{}{}
		<-release
		return []*net.MX{{Host: "mx." + domain + "."}}, nil
	}}

	const n = 50
	var wg sync.WaitGroup
	results := make(chan bool, n)
	for range n {
		wg.Go(func() {
			ok, err := m.HasMX(context.Background(), "acme.com")
			if err != nil {
				t.Errorf("HasMX: %v", err)
			}
			results <- ok
		})
	}
	<-started // one lookup is in flight and blocked
	close(release)
	wg.Wait()
	close(results)
	for ok := range results {
		if !ok {
			t.Errorf("HasMX = false, want true")
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("%d lookups for one domain, want 1", got)
	}
}

func TestHasMXCallerGivesUp(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	m := &contact.MXChecker{LookupMX: func(ctx context.Context, domain string) ([]*net.MX, error) {
		close(started)
		<-release
		return []*net.MX{{Host: "mx.acme.com."}}, nil
	}}

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := m.HasMX(ctx, "acme.com")
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("HasMX after cancel: %v, want context.Canceled", err)
	}

	// The shared lookup was not cancelled with the first caller: a second
	// caller gets its answer.
	close(release)
	ok, err := m.HasMX(context.Background(), "acme.com")
	if !ok || err != nil {
		t.Fatalf("HasMX second caller = %v, %v, want true, nil", ok, err)
	}
}

func TestHasMXTimeout(t *testing.T) {
	m := &contact.MXChecker{
		Timeout: time.Millisecond,
		LookupMX: func(ctx context.Context, domain string) ([]*net.MX, error) {
			<-ctx.Done() // a resolver that never answers
			return nil, &net.DNSError{Err: ctx.Err().Error(), IsTimeout: true}
		},
	}
	ok, err := m.HasMX(context.Background(), "slow.example")
	if ok || err == nil {
		t.Fatalf("HasMX on a hung resolver = %v, %v, want false, error", ok, err)
	}
}

func TestNewMXChecker(t *testing.T) {
	m := contact.NewMXChecker()
	if m.LookupMX == nil || m.Timeout != contact.DefaultMXTimeout {
		t.Errorf("NewMXChecker() = %+v, want LookupMX set and Timeout %v", m, contact.DefaultMXTimeout)
	}
}
