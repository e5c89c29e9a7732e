package main

import (
	"slices"
	"strconv"
	"strings"

	"github.com/contactbatch/batch/internal/shard"
)

// ShardFlags split one job over several processes (see internal/shard).
type ShardFlags struct {
	Shard  string `help:"Process shard INDEX/COUNT of the input (e.g. 0/3); every shard reads the whole input and keeps the rows whose contact key hashes to it. File outputs must name their shard with {shard}." placeholder:"I/N"`
	Shards int    `help:"Shard count, with the index from JOB_COMPLETION_INDEX (as a Kubernetes Indexed Job sets it)." placeholder:"N"`
}

// pickKey chooses the API key of a shard, I mod K of the K keys given, and
// names the tenant whose answers the cache shares: the key itself, or,
// with several keys (one account's keys spread over shards), all of them,
// so that every shard reads what the others bought.
func pickKey(keys []string, s shard.Spec) (key, tenant string) {
	switch len(keys) {
	case 0:
		return "", ""
	case 1:
		return keys[0], keys[0]
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	return keys[s.Index%len(keys)], strings.Join(sorted, "\n")
}

// placeholder is replaced by the shard index in --output, --state,
// --rejects and --report of a sharded run.
const placeholder = "{shard}"

// spec resolves --shard / --shards.
func (f *ShardFlags) spec(getenv func(string) string) (shard.Spec, error) {
	switch {
	case f.Shard != "" && f.Shards != 0:
		return shard.Spec{}, usagef("give --shard or --shards, not both")
	case f.Shard != "":
		s, err := shard.Parse(f.Shard)
		if err != nil {
			return shard.Spec{}, usagef("--shard: %w", err)
		}
		return s, nil
	case f.Shards < 0:
		return shard.Spec{}, usagef("--shards must be positive")
	case f.Shards > 0:
		idx := getenv("JOB_COMPLETION_INDEX")
		if idx == "" {
			return shard.Spec{}, usagef("--shards %d: JOB_COMPLETION_INDEX is not set (a Kubernetes Indexed Job sets it; elsewhere use --shard I/N)", f.Shards)
		}
		s, err := shard.FromIndex(idx, strconv.Itoa(f.Shards))
		if err != nil {
			return shard.Spec{}, usagef("--shards with JOB_COMPLETION_INDEX=%s: %w", idx, err)
		}
		return s, nil
	}
	return shard.Spec{}, nil
}

// applyShard expands {shard} in the run's paths and refuses a sharded run
// whose shards would all write one file.
func (c *RunCmd) applyShard(s shard.Spec) error {
	c.outputPattern = c.Output
	if !s.Enabled() {
		for _, p := range []string{c.Output, c.State, c.Rejects, c.Report} {
			if strings.Contains(p, placeholder) {
				return usagef("%s is only expanded in a sharded run (--shard or --shards)", placeholder)
			}
		}
		return nil
	}
	if !isDatabase(c.Output) && !strings.Contains(c.Output, placeholder) {
		return usagef("a sharded run writes one file per shard: put %s in --output (e.g. out-%s.csv), or write to a database table, which the shards share", placeholder, placeholder)
	}
	if c.Output == "-" {
		return usagef("a sharded run cannot write to stdout")
	}
	idx := strconv.Itoa(s.Index)
	c.Output = strings.ReplaceAll(c.Output, placeholder, idx)
	c.State = strings.ReplaceAll(c.State, placeholder, idx)
	c.Rejects = strings.ReplaceAll(c.Rejects, placeholder, idx)
	c.Report = strings.ReplaceAll(c.Report, placeholder, idx)
	return nil
}

// shardRate is a shard's share of --rate, which is the job's: R/N.
func shardRate(rate float64, s shard.Spec) float64 {
	if !s.Enabled() {
		return rate
	}
	return rate / float64(s.Count)
}
