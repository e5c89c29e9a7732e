// Package counter names the counters a job keeps: pipeline.Progress,
// Snapshot and Summary hold them as a map from Name to count, the ledger
// stores them with every commit, and report.json prints them under the
// same names.
//
// A name is either one of the constants below or a member of a Family: a
// prefix and a part that varies (rows by row state, verdicts, answers
// bought by lookup kind, billed calls by endpoint). Family.Of builds such a
// name and Family.Cut takes it apart.
package counter

import "strings"

// Name names one counter.
type Name string

// The counters with a fixed name.
const (
	RowsWritten    Name = "rows_written"      // rows written to the output
	RowsRejected   Name = "rows_rejected"     // rows written to the rejects file
	RowsOtherShard Name = "rows_other_shard"  // rows read and left to another shard
	LocalInvalid   Name = "local_invalid"     // addresses the local checks refused: no call sent
	DedupeHits     Name = "dedupe_hits"       // answers shared with an earlier row of the job
	CacheHits      Name = "cache_hits"        // answers from the cache of earlier jobs
	Throttled      Name = "throttled"         // lookups rescheduled after a 429
	LookupErrors   Name = "lookup_errors"     // lookups that ended in an error
	Polls          Name = "polls"             // polls of async lookups and bulk jobs
	AsyncParked    Name = "async_parked"      // lookups parked for a poll
	AsyncRestored  Name = "async_restored"    // parked lookups a resume took over
	AsyncTimeouts  Name = "async_timeouts"    // async lookups given up after the async timeout
	BulkJobs       Name = "bulk_jobs"         // bulk verify jobs submitted
	ClaimWaits     Name = "claim_waits"       // lookups parked because another process claimed the key in the shared cache
	ClaimPolls     Name = "claim_polls"       // looks at the shared cache again for a claimed key
	Republished    Name = "cache_republished" // answers kept in the ledger put into the shared cache again
)

// Family is the prefix of a group of counters.
type Family string

// The families. RowsWritten, RowsRejected and RowsOtherShard share the
// prefix of Rows, so Rows.Cut finds them too.
const (
	Rows    Family = "rows_"    // written rows by row state (pipeline.RowOK, …)
	Verdict Family = "verdict_" // verified rows by verdict
	Person  Family = "person_"  // rows by person lookup state
	Org     Family = "org_"     // rows by organization lookup state
	Calls   Family = "calls_"   // answers bought by a call, by lookup kind
	Paid    Family = "paid_"    // billed calls by customeros endpoint
)

// Of returns the counter of f for part: Rows.Of("ok") is "rows_ok".
func (f Family) Of(part string) Name { return Name(string(f) + part) }

// Cut returns the part of n when n belongs to f.
func (f Family) Cut(n Name) (part string, ok bool) {
	return strings.CutPrefix(string(n), string(f))
}
