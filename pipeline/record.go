package pipeline

import (
	"context"
	"time"

	"github.com/contactbatch/batch/pipeline/counter"
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

// ErrClaimed is what a shared cache's Get returns while another process
// holds a live claim on the key (see lookup.ErrClaimed).
var ErrClaimed = lookup.ErrClaimed

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
	Counters map[counter.Name]int64
	// Finished is true once the whole input is written.
	Finished bool
	// UpdatedAt is when the progress was committed. The runner leaves it
	// zero; the ledger's Commit sets it.
	UpdatedAt time.Time
}

// Ledger is the durable job state the runner needs: the answers and poll
// handles the lookup engine reads and writes (see lookup.Ledger for those
// methods), and the commit of the run's progress.
type Ledger interface {
	lookup.Ledger
	// Commit records p as the job's progress, replacing the last one, and
	// sets its UpdatedAt. It is durable when it returns nil, and so is
	// every answer PutResult stored before it (against a power loss too).
	// The runner commits only after the sinks' Commit, so a crash between
	// the two replays rows and never skips one. Commit is called from one
	// goroutine (the writer), concurrently with the engine's methods.
	Commit(ctx context.Context, p Progress) error
}
