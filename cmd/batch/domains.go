package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/contactbatch/batch/pipeline"
)

// domainsFile keeps the job's rows per email domain, for the report's top
// domains: written at the end of each run with the row count it covers.
const domainsFile = "domains.json"

// Bounds of the domain counts: past maxDomains distinct domains, rows of a
// new domain count as otherDomain; the report lists the topDomains largest.
const (
	maxDomains  = 20000
	topDomains  = 15
	otherDomain = "(other domains)"
)

// domainCounts counts the rows a sink committed per email domain.
type domainCounts struct {
	mu        sync.Mutex
	committed map[string]int64
	pending   map[string]int64 // written since the last commit
	complete  bool             // no run lost its counts (a crash does)
}

type domainsState struct {
	Seq      int64            `json:"seq"`
	Complete bool             `json:"complete"`
	Domains  map[string]int64 `json:"domains"`
}

// loadDomains returns the counts of the job in state that cover seq rows:
// none for a job starting at row 0 (fresh, or a retry pass that rewrites
// every row), else the saved counts, marked incomplete when they do not
// cover exactly seq rows (a run crashed before it saved them).
func loadDomains(state string, seq int64) *domainCounts {
	d := &domainCounts{committed: map[string]int64{}, pending: map[string]int64{}, complete: true}
	if seq == 0 {
		return d
	}
	var s domainsState
	b, err := os.ReadFile(filepath.Join(state, domainsFile))
	if err != nil || json.Unmarshal(b, &s) != nil || s.Seq != seq {
		d.complete = false
		if s.Seq > seq {
			return d // counts past the resume point would count rows twice
		}
	}
	if d.complete {
		d.complete = s.Complete
	}
	for k, v := range s.Domains {
		d.committed[k] = v
	}
	return d
}

// save records the counts as covering seq rows.
func (d *domainCounts) save(state string, seq int64) error {
	d.mu.Lock()
	s := domainsState{Seq: seq, Complete: d.complete, Domains: d.committed}
	err := writeJSONAtomic(filepath.Join(state, domainsFile), s)
	d.mu.Unlock()
	return err
}

// top returns the largest counts, largest first (ties by name).
func (d *domainCounts) top(n int) []domainRows {
	d.mu.Lock()
	out := make([]domainRows, 0, len(d.committed))
	for k, v := range d.committed {
		out = append(out, domainRows{k, v})
	}
	d.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rows != out[j].Rows {
			return out[i].Rows > out[j].Rows
		}
		return out[i].Domain < out[j].Domain
	})
	return out[:min(n, len(out))]
}

// wrap returns s counting each written row's domain, committed with s.
func (d *domainCounts) wrap(s pipeline.Sink) pipeline.Sink { return &domainSink{Sink: s, d: d} }

type domainSink struct {
	pipeline.Sink
	d *domainCounts
}

// Write counts out's domain as pending, then writes it.
func (s *domainSink) Write(ctx context.Context, out *pipeline.Output) error {
	if i := strings.LastIndexByte(out.Email, '@'); i >= 0 && i < len(out.Email)-1 {
		dom := strings.ToLower(out.Email[i+1:])
		s.d.mu.Lock()
		if _, ok := s.d.committed[dom]; !ok && s.d.pending[dom] == 0 && len(s.d.committed) >= maxDomains {
			dom = otherDomain
		}
		s.d.pending[dom]++
		s.d.mu.Unlock()
	}
	return s.Sink.Write(ctx, out)
}

// Commit commits the sink, then folds the pending counts in.
func (s *domainSink) Commit(ctx context.Context) (pipeline.Position, error) {
	pos, err := s.Sink.Commit(ctx)
	if err == nil {
		s.d.fold()
	}
	return pos, err
}

// Close closes the sink (it commits), then folds the pending counts in.
func (s *domainSink) Close(ctx context.Context) error {
	err := s.Sink.Close(ctx)
	if err == nil {
		s.d.fold()
	}
	return err
}

func (d *domainCounts) fold() {
	d.mu.Lock()
	for k, v := range d.pending {
		d.committed[k] += v
	}
	clear(d.pending)
	d.mu.Unlock()
}

// domainRows is one line of the report's top domains.
type domainRows struct {
	Domain string `json:"domain"`
	Rows   int64  `json:"rows"`
}
