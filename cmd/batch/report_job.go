package main

import (
	"encoding/json"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/internal/redact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
)

// jobReport is the part of report.json about the whole job: when and how
// it ran, what its rows became, what it paid and saved, and every run.
type jobReport struct {
	Job          string           `json:"job"`
	StartedAt    time.Time        `json:"started_at"` // this run
	EndedAt      time.Time        `json:"ended_at"`
	DurationS    float64          `json:"duration_s"`
	JobStartedAt time.Time        `json:"job_started_at"`
	JobDurationS float64          `json:"job_duration_s"` // all runs
	Options      json.RawMessage  `json:"options"`
	Stages       []string         `json:"stages"`
	Rejects      string           `json:"rejects"`
	Rows         rowCounts        `json:"rows"`
	Verdicts     map[string]int64 `json:"verdicts"`
	PaidBy       map[string]int64 `json:"paid_by_endpoint"` // all runs
	Saved        savedCounts      `json:"saved"`
	RetriesAll   int64            `json:"retries_in_all"`
	HTTP429All   int64            `json:"http_429_in_all"`
	Runs         []runRecord      `json:"runs"`
	// TopDomains are the email domains with the most rows (all runs);
	// TopDomainsComplete is false when a run crashed before recording
	// its rows' domains.
	TopDomains         []domainRows   `json:"top_domains"`
	TopDomainsComplete bool           `json:"top_domains_complete"`
	RejectReasons      []rejectReason `json:"reject_reasons"` // from the rejects file
}

// rowCounts are the job's rows by state. Final rows will not change on a
// rerun; retryable (error) and pending rows are tried again.
type rowCounts struct {
	Done      int64            `json:"done"`
	Final     int64            `json:"final"`
	Retryable int64            `json:"retryable"`
	Pending   int64            `json:"pending"`
	Rejected  int64            `json:"rejected"`
	ByState   map[string]int64 `json:"by_state"`
}

// savedCounts are the calls the job did not pay for: duplicates answered
// once, addresses the local checks caught, answers from the cache.
type savedCounts struct {
	Duplicates  int64 `json:"duplicates"`
	LocalChecks int64 `json:"local_checks"`
	Cache       int64 `json:"cache"`
}

// rowStates are the row states a row_status can hold.
var rowStates = []string{pipeline.RowOK, pipeline.RowNotFound, pipeline.RowSkipped, pipeline.RowInvalid,
	pipeline.RowRefused, pipeline.RowPending, pipeline.RowFailed}

func countRows(c map[counter.Name]int64, done int64) rowCounts {
	r := rowCounts{Done: done, ByState: map[string]int64{}, Rejected: c[counter.RowsRejected]}
	for _, st := range rowStates {
		if n := c[counter.Rows.Of(st)]; n != 0 {
			r.ByState[st] = n
		}
	}
	r.Retryable, r.Pending = c[counter.Rows.Of(pipeline.RowFailed)], c[counter.Rows.Of(pipeline.RowPending)]
	for st, n := range r.ByState {
		if !pipeline.Retryable(st) {
			r.Final += n
		}
	}
	r.Final += r.Rejected
	return r
}

func prefixed(c map[counter.Name]int64, f counter.Family) map[string]int64 {
	m := map[string]int64{}
	for k, v := range c {
		if rest, ok := f.Cut(k); ok && v != 0 {
			m[rest] = v
		}
	}
	return m
}

// addJob fills the job part from the ledger's job, the summary and the
// runs recorded so far (this one last).
func (r *report) addJob(job *checkpoint.Job, st pipeline.Stages, rejects string, s pipeline.Summary, runs []runRecord) {
	j := &r.jobReport
	j.Job, j.Options, j.Rejects = job.Identity, job.Options, redact.URL(rejects)
	j.JobStartedAt = job.CreatedAt.UTC()
	if st.Verify {
		j.Stages = append(j.Stages, "verify")
	}
	if st.EnrichPerson {
		j.Stages = append(j.Stages, "enrich_person")
	}
	if st.EnrichOrg {
		j.Stages = append(j.Stages, "enrich_org")
	}
	j.Rows = countRows(s.Counters, s.Rows)
	j.Verdicts = prefixed(s.Counters, counter.Verdict)
	j.PaidBy = prefixed(s.Counters, counter.Paid)
	j.Saved = savedCounts{Duplicates: s.Counters[counter.DedupeHits], LocalChecks: s.Counters[counter.LocalInvalid], Cache: s.Counters[counter.CacheHits]}
	j.Runs = runs
	if j.Runs == nil {
		j.Runs = []runRecord{}
	}
	for _, run := range runs {
		j.JobDurationS += run.DurationS
		j.RetriesAll += run.Retries
		j.HTTP429All += run.HTTP429
	}
	if n := len(runs); n > 0 {
		last := runs[n-1]
		j.StartedAt, j.DurationS = last.StartedAt, last.DurationS
		if last.EndedAt != nil {
			j.EndedAt = *last.EndedAt
		}
	}
}
