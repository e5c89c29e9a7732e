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

// run reads the whole input the way `batch run` would plan it and counts
// the calls: one per unique key per enabled stage, minus cache hits. Each
// is paid only if the service bills its answer (the billing rules of the
// run summary: a verification is free when its verdict is unknown, a
// person when no email or phone is found, an organization when not found),
// so the calls are the most the run can pay. It makes no API call.
func (c *EstimateCmd) run(ctx context.Context, e *env) error {
	checker := contact.NewChecker()
	force, err := c.forcedDialect()
	if err != nil {
		return err
	}
	dialect, stdin, err := detectDialect(ctx, c.Input, e.Stdin, force)
	if err != nil {
		return err
	}
	src, err := openSource(ctx, c.Input, c.Map, stdin, dialect, "", nil)
	if err != nil {
		return err
	}
	defer src.Close()
	var cache pipeline.Cache
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
		cache = cc.ForRun(cacheScope(&c.JobFlags, tenant))
	}
	est := estimate{CacheHits: map[string]int64{}, Calls: map[string]int64{}, UniqueLookups: map[string]int64{}}
	seen := map[uint64]struct{}{}
	emails := map[uint64]struct{}{}
	count := func(kind pipeline.Kind, key string) error {
		h := fnv.New64a()
		h.Write([]byte(kind))
		h.Write([]byte{0})
		h.Write([]byte(key))
		sum := h.Sum64()
		if _, ok := seen[sum]; ok {
			return nil
		}
		seen[sum] = struct{}{}
		est.UniqueLookups[string(kind)]++
		if cache != nil {
			r, err := cache.Get(ctx, kind, key)
			if err != nil {
				return err
			}
			if r != nil {
				est.CacheHits[string(kind)]++
				return nil
			}
		}
		est.Calls[string(kind)]++
		est.TotalCalls++
		return nil
	}
	for {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		var rowErr *pipeline.RowError
		if errors.As(err, &rowErr) {
			est.Rejected++
			continue
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
		est.Rows++
		ct := contact.Normalize(row.Contact, checker.NotCompany)
		var checks contact.Checks
		if ct.Email != "" {
			est.WithEmail++
			h := fnv.New64a()
			h.Write([]byte(ct.Email))
			if _, dup := emails[h.Sum64()]; dup {
				est.Duplicates++
			} else {
				emails[h.Sum64()] = struct{}{}
			}
			checks = checker.Check(ct.Email)
			if !checks.Valid {
				est.Invalid++
			}
		}
		for _, lk := range pipeline.Lookups(ct, checks, c.stages(), c.SendInvalid) {
			if err := count(lk.Kind, lk.Key); err != nil {
				return err
			}
		}
	}
	if c.JSON {
		return json.NewEncoder(e.Stdout).Encode(est)
	}
	fmt.Fprintf(e.Stdout, "rows:               %d (+%d rejected)\n", est.Rows, est.Rejected)
	fmt.Fprintf(e.Stdout, "rows with an email: %d (%d duplicates, %d locally invalid)\n", est.WithEmail, est.Duplicates, est.Invalid)
	for _, k := range []pipeline.Kind{pipeline.KindVerify, pipeline.KindPerson, pipeline.KindOrg} {
		if n, ok := est.UniqueLookups[string(k)]; ok {
			fmt.Fprintf(e.Stdout, "%-13s       %d unique, %d cached, %d calls\n", string(k)+":", n, est.CacheHits[string(k)], est.Calls[string(k)])
		}
	}
	fmt.Fprintf(e.Stdout, "calls:              %d, the most the run can pay (unknown verdicts and lookups that find nothing are not billed)\n", est.TotalCalls)
	return nil
}
