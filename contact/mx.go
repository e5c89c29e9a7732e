package contact

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/contactbatch/batch/internal/defaults"
)

// DefaultMXTimeout bounds one MX lookup.
const DefaultMXTimeout = 5 * time.Second

// MXChecker tells whether domains publish mail exchangers, for --check-mx.
// Answers are cached per domain for the life of the MXChecker (a batch run),
// and concurrent calls for one domain share a single lookup. Failed lookups
// are not cached, so a later call tries again. Set the fields before first
// use; it is safe for concurrent use after.
type MXChecker struct {
	// LookupMX resolves MX records; nil means net.DefaultResolver.LookupMX.
	LookupMX func(ctx context.Context, domain string) ([]*net.MX, error)
	// Timeout bounds each lookup; zero or less means DefaultMXTimeout.
	Timeout time.Duration

	mu    sync.Mutex
	cache map[string]*mxResult
}

type mxResult struct {
	done chan struct{} // closed once has and err are set
	has  bool
	err  error
}

// NewMXChecker returns an MXChecker using net.DefaultResolver and
// DefaultMXTimeout.
func NewMXChecker() *MXChecker {
	return &MXChecker{LookupMX: net.DefaultResolver.LookupMX, Timeout: DefaultMXTimeout}
}

// HasMX reports whether domain (ASCII, as in Checks.Domain) has at least one
// usable MX record. A domain that does not exist or has no MX records (DNS
// "no such host"), or only a null MX ("." per RFC 7505), gives false and a
// nil error; note that RFC 5321 still lets mail go to a domain's A record when
// it has no MX, so false means "risky", not "undeliverable". Timeouts, server
// failures and other temporary errors give an error and are not cached.
//
// The lookup runs on its own goroutine bounded by Timeout, detached from
// ctx's cancellation so that a caller giving up does not fail the other
// callers waiting on the same domain; HasMX itself returns as soon as ctx is
// done.
func (m *MXChecker) HasMX(ctx context.Context, domain string) (bool, error) {
	d := foldDomain(domain)
	if d == "" {
		return false, nil
	}
	m.mu.Lock()
	if m.cache == nil {
		m.cache = make(map[string]*mxResult)
	}
	r, ok := m.cache[d]
	if !ok {
		r = &mxResult{done: make(chan struct{})}
		m.cache[d] = r
		go m.lookup(context.WithoutCancel(ctx), d, r)
	}
	m.mu.Unlock()

	select {
	case <-r.done:
		return r.has, r.err
	case <-ctx.Done():
		return false, fmt.Errorf("mx lookup %s: %w", d, ctx.Err())
	}
}

func (m *MXChecker) lookup(ctx context.Context, domain string, r *mxResult) {
	timeout := defaults.Or(m.Timeout, DefaultMXTimeout)
	lookupMX := m.LookupMX
	if lookupMX == nil {
		lookupMX = net.DefaultResolver.LookupMX
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	mxs, err := lookupMX(ctx, domain)
	r.has, r.err = classifyMX(mxs, err)
	if r.err != nil {
		r.err = fmt.Errorf("mx lookup %s: %w", domain, r.err)
		m.mu.Lock()
		if m.cache[domain] == r {
			delete(m.cache, domain)
		}
		m.mu.Unlock()
	}
	close(r.done)
}

// classifyMX turns a lookup's answer into HasMX's. net.Resolver.LookupMX may
// return the well-formed records together with an error about malformed
// ones: any usable record wins.
func classifyMX(mxs []*net.MX, err error) (bool, error) {
	for _, mx := range mxs {
		if mx != nil && mx.Host != "" && mx.Host != "." {
			return true, nil
		}
	}
	if err == nil {
		return false, nil
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
		return false, nil
	}
	return false, err
}
