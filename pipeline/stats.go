package pipeline

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline/counter"
	"github.com/contactbatch/batch/pipeline/lookup"
)

// Stats counts what a run did. Counters carry over from the ledger, so a
// resumed job reports its totals.
type Stats struct {
	read atomic.Int64 // rows read this run
	seq  atomic.Int64 // rows committed (all runs)

	mu sync.Mutex
	c  map[counter.Name]int64
	// paid counts billed calls this run per endpoint (see bill); c holds
	// the job's totals as "paid_<endpoint>".
	paid map[string]int64

	// Owned by the writer goroutine.
	cursor             string
	sinkPos, rejectPos Position
}

func newStats(prev map[counter.Name]int64) *Stats {
	s := &Stats{c: map[counter.Name]int64{}, paid: map[string]int64{}}
	maps.Copy(s.c, prev)
	return s
}

func (s *Stats) count(name counter.Name, n int64) {
	s.mu.Lock()
	s.c[name] += n
	s.mu.Unlock()
}

// bill counts n calls to ep that the service billed (CONTRACT §6.5, as
// the customeros Billed methods decide), this run and in the job's totals.
// Attempts, retries and failures are the client's counters, not these.
func (s *Stats) bill(ep customeros.Endpoint, n int64) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.paid[string(ep)] += n
	s.c[counter.Paid.Of(string(ep))] += n
	s.mu.Unlock()
}

func (s *Stats) paidNow() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.paid)
}

// countRow counts a written row by status and verdict.
func (s *Stats) countRow(rec *record, st Stages) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c[counter.RowsWritten]++
	s.c[counter.Rows.Of(rec.rowState(st))]++
	if st.Verify && rec.contact.Email != "" && !rec.checks.Valid && !rec.verify.wanted {
		s.c[counter.LocalInvalid]++ // caught by the local checks: no call sent
	}
	if v := rec.verdict(); v != "" && st.Verify {
		s.c[counter.Verdict.Of(v)]++
	}
	if st.EnrichPerson {
		s.c[counter.Person.Of(rec.person.state())]++
	}
	// Where each answer came from, counted with the row it was bought for,
	// so the figures move with the committed rows (exact across resumes).
	for _, k := range lookup.Kinds() {
		l := rec.want(k)
		if !l.wanted || l.res == nil {
			continue
		}
		switch d := l.res.Data; {
		case d.For != rec.seq || d.Origin == "":
			s.c[counter.DedupeHits]++
		case d.Origin == lookup.OriginCall:
			s.c[counter.Calls.Of(string(k))]++
		case d.Origin == lookup.OriginCache:
			s.c[counter.CacheHits]++
		}
	}
	if st.EnrichOrg {
		s.c[counter.Org.Of(rec.org.state())]++
	}
}

func (s *Stats) counters() map[counter.Name]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.c)
}

// Snapshot is a point-in-time view of a run, for progress reporting.
type Snapshot struct {
	Read      int64 // rows read this run
	Committed int64 // rows durably written, all runs
	Parked    int   // async lookups waiting for a poll
	Calls     int64 // calls made this run, billed or not (what MaxCalls caps)
	Counters  map[counter.Name]int64
	// Paid counts the calls billed this run per endpoint (customeros
	// Endpoint names: verify, person, organization, bulk_submit), by the
	// contract's billing rules: a verification whose verdict is unknown, a
	// person found without email or phone, an organization not found, a
	// retry or a refused connection is not paid. The job's totals over all
	// runs are Counters["paid_<endpoint>"].
	Paid map[string]int64
}

// Snapshot returns the run's current figures. Safe for concurrent use.
func (r *Runner) Snapshot() Snapshot {
	return Snapshot{
		Read:      r.stats.read.Load(),
		Committed: r.stats.seq.Load(),
		Parked:    r.engine.Parked(),
		Calls:     r.budget.Calls(),
		Counters:  r.stats.counters(),
		Paid:      r.stats.paidNow(),
	}
}

// Summary is the outcome of a run.
type Summary struct {
	Read     int64                  `json:"rows_read_this_run"`
	Rows     int64                  `json:"rows_committed"`
	Counters map[counter.Name]int64 `json:"counters"`
	Duration time.Duration          `json:"duration_ns"`
	// Calls counts the calls this run made (what --max-calls caps),
	// billed or not.
	Calls int64 `json:"calls_this_run"`
	// Paid counts the calls billed this run per endpoint, as Snapshot.Paid.
	Paid map[string]int64 `json:"paid_this_run"`
}

// PaidTotal sums a Paid map.
func PaidTotal(paid map[string]int64) int64 {
	var n int64
	for _, v := range paid {
		n += v
	}
	return n
}

func (r *Runner) summary(start time.Time) Summary {
	return Summary{
		Read:     r.stats.read.Load(),
		Rows:     r.stats.seq.Load(),
		Counters: r.stats.counters(),
		Duration: time.Since(start),
		Calls:    r.budget.Calls(),
		Paid:     r.stats.paidNow(),
	}
}
