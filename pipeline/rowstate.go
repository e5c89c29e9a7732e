package pipeline

import (
	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline/counter"
)

// Row and stage states, written in row_status (the row) and in
// email_status, person_status and org_status (its stages). A state is
// final (another try would give the same answer) or retryable (the next
// run of the job tries the stage again).
//
// A stage's state:
//
//	ok         answered: a verdict, a person or an organization found
//	           (email without --verify: the local checks passed)
//	not_found  the API looked and found no person or organization
//	skipped    asked for, but the row has nothing to look it up by (no
//	           email, no domain, no LinkedIn URL)
//	invalid    the email failed the local checks (nothing was sent), or
//	           the API's verdict is invalid
//	refused    the API refused this input for good (a 4xx such as 400)
//	pending    retryable: an async lookup had not finished within
//	           --async-timeout; its handle is kept and polled next run
//	error      retryable: a transient failure (network, DNS, TLS,
//	           timeout, 5xx, truncated body) outlived the client's retries
//
// row_status is the worst state of the row's requested stages, in the
// order error, pending, refused, invalid, skipped, not_found, ok: ok means
// every requested stage succeeded. The email stage is requested by
// --verify, or when no API stage is (a run of local checks only).
const (
	RowOK       = "ok"
	RowNotFound = "not_found"
	RowSkipped  = "skipped"
	RowInvalid  = "invalid"
	RowRefused  = "refused"
	RowPending  = "pending"
	RowFailed   = "error"
)

// stateRank orders states from best to worst.
var stateRank = map[string]int{
	"": 0, RowOK: 1, RowNotFound: 2, RowSkipped: 3, RowInvalid: 4, RowRefused: 5, RowPending: 6, RowFailed: 7,
}

// Retryable reports whether a row or stage in state s is tried again by
// the next run of the job (error and pending); every other state is final.
func Retryable(s string) bool { return s == RowFailed || s == RowPending }

// Worst returns the worst of states ("" entries, stages not requested,
// are ignored); ok when there is none.
func Worst(states ...string) string {
	w := RowOK
	for _, s := range states {
		if stateRank[s] > stateRank[w] {
			w = s
		}
	}
	return w
}

// RetryableRows returns the number of rows a job's counters (Progress or
// Summary) record as retryable: what a rerun of a finished job retries.
func RetryableRows(counters map[counter.Name]int64) int64 {
	return counters[counter.Rows.Of(RowFailed)] + counters[counter.Rows.Of(RowPending)]
}

// lookupState is the state of one requested lookup stage; wanted false
// means the stage had nothing to look up.
func (l *want) state() string {
	switch {
	case !l.wanted:
		return RowSkipped
	case l.err != nil && customeros.Refused(l.err):
		return RowRefused
	case l.err != nil:
		return RowFailed
	case l.res == nil:
		return RowFailed // not answered (cannot happen for a written row)
	case l.res.Stored.Status == StatusPending:
		return RowPending
	case l.res.Stored.Status == StatusNotFound:
		return RowNotFound
	}
	return RowOK
}

// emailState is the email stage's state ("" when the row has no email and
// the stage is not requested).
func (r *record) emailState(st Stages) string {
	requested := st.Verify || !st.any()
	switch {
	case r.contact.Email == "" && requested:
		return RowSkipped
	case r.contact.Email == "":
		return ""
	case !r.checks.Valid && !r.verify.wanted:
		return RowInvalid
	case !r.verify.wanted:
		return RowOK
	}
	if s := r.verify.state(); s != RowOK {
		return s
	}
	if v := r.verify.res.Verification(); v != nil && v.Verdict == customeros.Invalid {
		return RowInvalid
	}
	return RowOK
}

// rowState is the worst state of rec's requested stages.
func (r *record) rowState(st Stages) string {
	var email, person, org string
	if st.Verify || !st.any() {
		email = r.emailState(st)
	}
	if st.EnrichPerson {
		person = r.person.state()
	}
	if st.EnrichOrg {
		org = r.org.state()
	}
	return Worst(email, person, org)
}

// any reports whether an API stage is enabled.
func (st Stages) any() bool { return st.Verify || st.EnrichPerson || st.EnrichOrg }

// RetryCounters returns the counters a retry pass starts from: a rerun of
// a finished job with retryable rows reads the input again from the first
// row (answers already bought come from the ledger, so only the retryable
// lookups are paid) and rewrites every row, so the per-row counters (rows_*,
// verdict_*, person_*, org_*, calls_*, dedupe_hits, cache_hits) are counted
// again from zero; the job's event counters (paid_*, polls, retries, …)
// are kept.
func RetryCounters(c map[counter.Name]int64) map[counter.Name]int64 {
	out := make(map[counter.Name]int64, len(c))
	for k, v := range c {
		if !rowCounter(k) {
			out[k] = v
		}
	}
	return out
}

// rowCounter reports whether counter name is counted per written row (see
// Stats.countRow and Runner.emit).
func rowCounter(name counter.Name) bool {
	for _, f := range []counter.Family{counter.Rows, counter.Verdict, counter.Person, counter.Org, counter.Calls} {
		if _, ok := f.Cut(name); ok {
			return true
		}
	}
	return name == counter.DedupeHits || name == counter.CacheHits
}
