package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/shard"
	"github.com/contactbatch/batch/pipeline"
)

// estimate is what `batch estimate` prints.
type estimate struct {
	Rows          int64            `json:"rows"`
	Rejected      int64            `json:"rejected"`
	WithEmail     int64            `json:"rows_with_email"`
	Duplicates    int64            `json:"duplicate_emails"`
	Invalid       int64            `json:"locally_invalid"`
	CacheHits     map[string]int64 `json:"cache_hits"`
	Calls         map[string]int64 `json:"calls"`
	TotalCalls    int64            `json:"total_calls"`
	UniqueLookups map[string]int64 `json:"unique_lookups"`
}

// run reads the whole input, plans each row as `batch run` would (the
// same pipeline.Planner, --check-mx included) and counts the calls: one
// per unique key per enabled stage, minus cache hits. Each is paid only if
// the service bills its answer (the billing rules of the run summary: a
// verification is free when its verdict is unknown, a person when no
// email or phone is found, an organization when not found), so the calls
// are the most the run can pay. It makes no API call.
func (c *EstimateCmd) run(ctx context.Context, e *env) error {
	in, closeIn, err := openStream(ctx, c.Input, e.Stdin) // a named pipe is opened once
	if err != nil {
		return err
	}
	defer closeIn()
	src, err := c.openDetected(ctx, in)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := checkStages(&c.JobFlags, src.Header(), src.Mapping()); err != nil {
		return err
	}
	noteLocalOnly(e.Stderr, &c.JobFlags)
	x := &estimator{est: estimate{CacheHits: map[string]int64{}, Calls: map[string]int64{}, UniqueLookups: map[string]int64{}},
		seen: map[uint64]struct{}{}, emails: map[uint64]struct{}{}}
	if !c.NoCache && !c.Refresh {
		cc, err := openCache(ctx, &c.JobFlags, false)
		if err != nil {
			return err
		}
		defer cc.Close()
		keys, err := c.apiKeys(e.Getenv)
		if err != nil {
			return err
		}
		_, tenant := pickKey(keys, shard.Spec{})
		x.cache = cc.ForRun(cacheScope(&c.JobFlags, tenant))
	}
	p := pipeline.Planner{Checker: contact.NewChecker(), Stages: c.stages(), SendInvalid: c.SendInvalid}
	if c.CheckMX {
		p.MX = contact.NewMXChecker()
	}
	if err := x.read(ctx, src, p); err != nil {
		return err
	}
	return x.est.print(e.Stdout, c.JSON)
}

// estimator counts what a run of the input would do.
type estimator struct {
	est    estimate
	cache  pipeline.Cache      // nil: no cache
	seen   map[uint64]struct{} // lookups, by hash of kind and key
	emails map[uint64]struct{} // normalized emails, by hash
}

// read plans and counts every row of src.
func (x *estimator) read(ctx context.Context, src pipeline.Source, p pipeline.Planner) error {
	for {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		var rowErr *pipeline.RowError
		if errors.As(err, &rowErr) {
			x.est.Rejected++
			continue
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		pl := p.Plan(ctx, row.Contact)
		x.est.Rows++
		if pl.Contact.Email != "" {
			x.est.WithEmail++
			if !x.first(x.emails, pl.Contact.Email) {
				x.est.Duplicates++
			}
			if !pl.Checks.Valid {
				x.est.Invalid++
			}
		}
		for _, lk := range pl.Lookups {
			if err := x.lookup(ctx, lk); err != nil {
				return err
			}
		}
	}
}

// first reports whether the parts were not in set yet, and adds them.
func (x *estimator) first(set map[uint64]struct{}, parts ...string) bool {
	h := fnv.New64a()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	sum := h.Sum64()
	if _, ok := set[sum]; ok {
		return false
	}
	set[sum] = struct{}{}
	return true
}

// lookup counts a lookup the first time its key comes: a cache hit or a call.
func (x *estimator) lookup(ctx context.Context, lk pipeline.Lookup) error {
	kind := string(lk.Kind)
	if !x.first(x.seen, kind, lk.ID()) {
		return nil
	}
	x.est.UniqueLookups[kind]++
	if x.cache != nil {
		r, err := x.cache.Get(ctx, lk.Kind, lk.ID())
		if err != nil {
			return err
		}
		if r != nil {
			x.est.CacheHits[kind]++
			return nil
		}
	}
	x.est.Calls[kind]++
	x.est.TotalCalls++
	return nil
}

// print writes the estimate as text or JSON.
func (est *estimate) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(est)
	}
	fmt.Fprintf(w, "rows:               %d (+%d rejected)\n", est.Rows, est.Rejected)
	fmt.Fprintf(w, "rows with an email: %d (%d duplicates, %d locally invalid)\n", est.WithEmail, est.Duplicates, est.Invalid)
	for _, k := range []pipeline.Kind{pipeline.KindVerify, pipeline.KindPerson, pipeline.KindOrg} {
		if n, ok := est.UniqueLookups[string(k)]; ok {
			fmt.Fprintf(w, "%-13s       %d unique, %d cached, %d calls\n", string(k)+":", n, est.CacheHits[string(k)], est.Calls[string(k)])
		}
	}
	_, err := fmt.Fprintf(w, "calls:              %d, the most the run can pay (unknown verdicts and lookups that find nothing are not billed)\n", est.TotalCalls)
	return err
}
