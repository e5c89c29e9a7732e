package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// Kind names one kind of API lookup.
type Kind string

// Lookup kinds. They are also the ledger's and the cache's result kinds.
const (
	KindVerify Kind = "verify"
	KindPerson Kind = "person"
	KindOrg    Kind = "organization"
)

// Result statuses stored in the ledger and the cache.
const (
	StatusFound    = "found"
	StatusNotFound = "not_found"
	StatusPending  = "pending" // async lookup still running when the row was written
)

// StoredResult is one API answer as the ledger and the cache keep it.
type StoredResult struct {
	Kind    Kind
	Key     string
	Status  string
	Verdict string // normalized verdict for verify; Status otherwise (drives cache TTLs)
	Data    json.RawMessage
}

// resultData is the JSON stored in StoredResult.Data: the decoded answer and
// the raw body it came from.
type resultData struct {
	Verification *customeros.Verification       `json:"verification,omitempty"`
	Person       *customeros.PersonResult       `json:"person,omitempty"`
	Organization *customeros.OrganizationResult `json:"organization,omitempty"`
	Raw          json.RawMessage                `json:"raw,omitempty"`
	// Origin says where the answer was bought: "call" (a paid call) or
	// "cache" (an earlier run). For is the row it was fetched for: the
	// writer counts it when that row is written, so counters move with
	// the committed rows and survive crashes and resumes exactly.
	Origin string `json:"origin,omitempty"`
	For    int64  `json:"for"`
}

// PendingID names a durable poll handle.
type PendingID struct {
	Kind   Kind
	Handle string
}

// Pending is a durable poll handle: a person result URL or a bulk job id,
// with the keys waiting on it.
type Pending struct {
	Kind      Kind
	Handle    string
	Keys      []string
	Data      json.RawMessage
	CreatedAt time.Time
}

// Progress is what the ledger records at each commit.
type Progress struct {
	Seq       int64
	Cursor    string
	SinkPos   Position
	RejectPos Position
	Counters  map[string]int64
	Finished  bool
}

// Ledger is the durable job state the runner needs. Every write is durable
// when the call returns.
type Ledger interface {
	// Result returns the stored answer for (kind, key), or nil if none.
	Result(ctx context.Context, kind Kind, key string) (*StoredResult, error)
	// PutResult stores an answer and deletes the given poll handles in the
	// same transaction.
	PutResult(ctx context.Context, r StoredResult, done ...PendingID) error
	PutPending(ctx context.Context, p Pending) error
	DeletePending(ctx context.Context, ids ...PendingID) error
	Pending(ctx context.Context) ([]Pending, error)
	Commit(ctx context.Context, p Progress) error
}

// Cache keeps answers across runs. Get returns nil for a missing or expired
// entry. Put may be asynchronous.
type Cache interface {
	Get(ctx context.Context, kind Kind, key string) (*StoredResult, error)
	Put(ctx context.Context, r StoredResult) error
}

// API is the part of the CustomerOS client the runner calls.
type API interface {
	VerifyEmail(ctx context.Context, address string) (*customeros.Verification, error)
	EnrichPerson(ctx context.Context, q customeros.PersonQuery) (*customeros.PersonResult, error)
	PollPerson(ctx context.Context, resultURL string) (*customeros.PersonResult, error)
	EnrichOrganization(ctx context.Context, q customeros.OrganizationQuery) (*customeros.OrganizationResult, error)
	SubmitBulkVerify(ctx context.Context, emails []string) (*customeros.BulkJob, error)
	BulkVerifyStatus(ctx context.Context, jobID string) (*customeros.BulkStatus, error)
	DownloadBulkVerify(ctx context.Context, jobID string) ([]customeros.Verification, error)
}
