package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/redact"
	"github.com/contactbatch/batch/pipeline"
)

// PurgeCmd is `batch purge`: personal-data deletion of one contact's (or
// one domain's) answers from the cache and from a job's state.
type PurgeCmd struct {
	Email   string `help:"Remove the answers about this address (verification and person enrichment); matched as a run normalizes it (case, spaces, mailto:, a display name)." placeholder:"ADDRESS"`
	Domain  string `help:"Remove the answers about every address at this domain and the organization's." placeholder:"DOMAIN"`
	State   string `help:"Also remove them from this job's state directory (its ledger), so that no rerun or resume of the job reuses them." type:"path"`
	Cache   string `help:"Cache to purge: a file (default: the one in the user cache dir) or postgres://… (a shared cache)."`
	NoCache bool   `help:"Leave the cache alone (purge only --state)."`
}

// purgeSubject is what purge was asked to remove, normalized as a run
// normalizes its input.
type purgeSubject struct {
	email, domain string
}

// subject checks the selector: exactly one of --email and --domain, a
// valid address or a plausible domain.
func (c *PurgeCmd) subject() (purgeSubject, error) {
	switch {
	case c.Email == "" && c.Domain == "":
		return purgeSubject{}, usagef("purge needs --email ADDRESS or --domain DOMAIN")
	case c.Email != "" && c.Domain != "":
		return purgeSubject{}, usagef("give --email or --domain, not both")
	case c.NoCache && c.State == "":
		return purgeSubject{}, usagef("--no-cache leaves nothing to purge: give --state DIR")
	case c.Email != "":
		e := contact.NormalizeEmail(c.Email)
		if !contact.NewChecker().Check(e).Valid {
			return purgeSubject{}, usagef("--email %q is not a valid email address", c.Email)
		}
		return purgeSubject{email: e}, nil
	}
	d := contact.NormalizeDomain(c.Domain)
	if d == "" {
		return purgeSubject{}, usagef("--domain %q is not a domain", c.Domain)
	}
	return purgeSubject{domain: d}, nil
}

// ledgerKeys are the lookup keys a job's ledger stores answers under for
// the subject: the address's verification and person lookup, or the
// domain's organization lookup.
func (s purgeSubject) ledgerKeys() []checkpoint.LookupKey {
	if s.email != "" {
		return []checkpoint.LookupKey{
			{Kind: pipeline.KindVerify, Key: s.email},
			{Kind: pipeline.KindPerson, Key: "email:" + s.email},
		}
	}
	return []checkpoint.LookupKey{{Kind: pipeline.KindOrg, Key: "domain:" + s.domain}}
}

func (c *PurgeCmd) run(ctx context.Context, e *env) error {
	s, err := c.subject()
	if err != nil {
		return err
	}
	what := s.email
	if what == "" {
		what = "domain " + s.domain
	}
	if c.State != "" {
		n, err := c.purgeState(ctx, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "purged %s: %d answers from state %s\n", what, n, c.State)
	}
	if c.NoCache {
		return nil
	}
	n, where, err := c.purgeCache(ctx, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "purged %s: %d answers from cache %s\n", what, n, where)
	return nil
}

// purgeState replaces the subject's answers in the job's ledger by
// tombstones (see checkpoint.Ledger.Purge).
func (c *PurgeCmd) purgeState(ctx context.Context, s purgeSubject) (int64, error) {
	if fi, err := os.Stat(c.State); err != nil || !fi.IsDir() {
		return 0, usagef("--state %s is not a job's state directory", c.State)
	}
	l, err := checkpoint.Open(ctx, c.State)
	if err != nil {
		if errors.Is(err, checkpoint.ErrLocked) {
			return 0, usagef("%w", err)
		}
		return 0, fmt.Errorf("open state %s: %w", c.State, err)
	}
	defer l.Close()
	n, err := l.Purge(ctx, s.ledgerKeys())
	if errors.Is(err, checkpoint.ErrNoJob) {
		return 0, usagef("state %s holds no job", c.State)
	}
	if err != nil {
		return n, fmt.Errorf("purge state %s: %w", c.State, err)
	}
	return n, nil
}

// purgeCache deletes the subject's answers from the local or shared
// cache, under every scope (API URL, tenant, options).
func (c *PurgeCmd) purgeCache(ctx context.Context, s purgeSubject) (int64, string, error) {
	ttl := checkpoint.DefaultTTLPolicy()
	if isPostgres(c.Cache) {
		where := redact.URL(c.Cache)
		pc, err := checkpoint.OpenPGCache(ctx, c.Cache, ttl, checkpoint.PGCacheOptions{NoClaims: true})
		if err != nil {
			if stop := serviceError("cache "+where, err); stop != nil {
				return 0, where, stop
			}
			return 0, where, fmt.Errorf("open cache %s: %w", where, err)
		}
		defer pc.Close()
		n, err := pc.Purge(ctx, s.email, s.domain)
		return n, where, err
	}
	path := c.Cache
	if path == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return 0, "", usagef("no user cache directory (%v): set --cache or --no-cache", err)
		}
		path = filepath.Join(dir, "batch", "cache.db")
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, path, nil // no cache: nothing to purge, none to create
	}
	lc, err := checkpoint.OpenCache(ctx, path, ttl)
	if err != nil {
		return 0, path, fmt.Errorf("open cache %s: %w", path, err)
	}
	n, err := lc.Purge(ctx, s.email, s.domain)
	if cerr := lc.Close(); err == nil {
		err = cerr
	}
	return n, path, err
}
