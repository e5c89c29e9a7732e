package pipeline

import (
	"context"
	"time"

	"github.com/contactbatch/batch/pipeline/lookup"
)

// The run-state vocabulary shared with the lookup engine, under the names
// the rest of the program has always used.
type (
	// Kind names one kind of API lookup.
	Kind = lookup.Kind
	// StoredResult is one API answer as the ledger and the cache keep it.
	StoredResult = lookup.StoredResult
	// PendingID names a durable poll handle.
	PendingID = lookup.PendingID
	// Pending is a durable poll handle and the keys waiting on it.
	Pending = lookup.Pending
	// Cache keeps answers across runs.
	Cache = lookup.Cache
	// API is the part of the CustomerOS client a run calls.
	API = lookup.API
)

// Lookup kinds. They are also the ledger's and the cache's result kinds.
const (
	KindVerify = lookup.KindVerify
	KindPerson = lookup.KindPerson
	KindOrg    = lookup.KindOrg
)

// Result statuses stored in the ledger and the cache.
const (
	StatusFound    = lookup.StatusFound
	StatusNotFound = lookup.StatusNotFound
	StatusPending  = lookup.StatusPending
)

// Progress is what the ledger records at each commit: how far the output
// is durably written and where to resume.
type Progress struct {
	// Seq counts rows (accepted and rejected) durably written: the next Seq.
	Seq int64
	// Cursor is the source cursor after row Seq-1.
	Cursor string
	// SinkPos and RejectPos are the sinks' commit positions.
	SinkPos, RejectPos Position
	// Counters are the run's counts (rows by state, calls, cache hits, …).
	Counters map[string]int64
	// Finished is true once the whole input is written.
	Finished bool
	// UpdatedAt is when the progress was committed. The runner leaves it
	// zero; the ledger's Commit sets it.
	UpdatedAt time.Time
}

// Ledger is the durable job state the runner needs: what the lookup engine
// reads and writes, and the commit of the run's progress. Every write is
// durable when the call returns.
type Ledger interface {
	lookup.Ledger
	Commit(ctx context.Context, p Progress) error
}
