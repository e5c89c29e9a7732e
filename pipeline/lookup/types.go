package lookup

import (
	"context"
	"encoding/json"
	"fmt"
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

// Kinds lists the lookup kinds in output order.
func Kinds() [3]Kind { return [3]Kind{KindVerify, KindPerson, KindOrg} }

// Result statuses stored in the ledger and the cache.
const (
	StatusFound    = "found"
	StatusNotFound = "not_found"
	StatusPending  = "pending" // async lookup still running when the row was written
)

// StoredResult is one API answer as the ledger and the cache keep it.
type StoredResult struct {
	Kind    Kind
	Key     string // the normalized email, or "email:", "linkedin:", "domain:" and the value
	Status  string
	Verdict string // normalized verdict for verify; Status otherwise (drives cache TTLs)
	Data    json.RawMessage
	// FetchedAt is when the answer was stored. The engine leaves it zero;
	// the ledger and the cache set the time of the write.
	FetchedAt time.Time
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

// Ledger is the part of the durable job state the engine reads and writes.
// Every write is durable when the call returns.
type Ledger interface {
	// Result returns the stored answer for (kind, key), or nil if none.
	Result(ctx context.Context, kind Kind, key string) (*StoredResult, error)
	// PutResult stores an answer and deletes the given poll handles in the
	// same transaction.
	PutResult(ctx context.Context, r StoredResult, done ...PendingID) error
	PutPending(ctx context.Context, p Pending) error
	DeletePending(ctx context.Context, ids ...PendingID) error
	Pending(ctx context.Context) ([]Pending, error)
}

// Cache keeps answers across runs. Get returns nil for a missing or expired
// entry. Put may be asynchronous.
type Cache interface {
	Get(ctx context.Context, kind Kind, key string) (*StoredResult, error)
	Put(ctx context.Context, r StoredResult) error
}

// API is the part of the CustomerOS client the engine calls.
type API interface {
	VerifyEmail(ctx context.Context, address string) (*customeros.Verification, error)
	EnrichPerson(ctx context.Context, q customeros.PersonQuery) (*customeros.PersonResult, error)
	PollPerson(ctx context.Context, resultURL string) (*customeros.PersonResult, error)
	EnrichOrganization(ctx context.Context, q customeros.OrganizationQuery) (*customeros.OrganizationResult, error)
	SubmitBulkVerify(ctx context.Context, emails []string) (*customeros.BulkJob, error)
	BulkVerifyStatus(ctx context.Context, jobID string) (*customeros.BulkStatus, error)
	DownloadBulkVerify(ctx context.Context, jobID string) ([]customeros.Verification, error)
}

// Origins of an answer (ResultData.Origin).
const (
	OriginCall  = "call"  // a paid call this run or an earlier one
	OriginCache = "cache" // the cross-run cache
)

// ResultData is the JSON stored in StoredResult.Data: the decoded answer and
// the raw body it came from.
type ResultData struct {
	Verification *customeros.Verification       `json:"verification,omitempty"`
	Person       *customeros.PersonResult       `json:"person,omitempty"`
	Organization *customeros.OrganizationResult `json:"organization,omitempty"`
	Raw          json.RawMessage                `json:"raw,omitempty"`
	// Origin says where the answer was bought: OriginCall (a paid call) or
	// OriginCache (an earlier run). For is the row it was fetched for: the
	// writer counts it when that row is written, so counters move with
	// the committed rows and survive crashes and resumes exactly.
	Origin string `json:"origin,omitempty"`
	For    int64  `json:"for"`
}

// Answer is a decoded stored result, shared (read-only) by every row with
// its key.
type Answer struct {
	Stored StoredResult
	Data   ResultData
}

// Verification returns the verify answer, or nil. a may be nil.
func (a *Answer) Verification() *customeros.Verification {
	if a == nil {
		return nil
	}
	return a.Data.Verification
}

// Person returns the person answer, or nil. a may be nil.
func (a *Answer) Person() *customeros.PersonResult {
	if a == nil {
		return nil
	}
	return a.Data.Person
}

// Organization returns the organization answer, or nil. a may be nil.
func (a *Answer) Organization() *customeros.OrganizationResult {
	if a == nil {
		return nil
	}
	return a.Data.Organization
}

func decodeAnswer(s StoredResult) (*Answer, error) {
	a := &Answer{Stored: s}
	if len(s.Data) > 0 {
		if err := json.Unmarshal(s.Data, &a.Data); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func verifyAnswer(key string, v *customeros.Verification, seq int64) (*Answer, error) {
	a := &Answer{Data: ResultData{Verification: v, Raw: v.Raw, Origin: OriginCall, For: seq}}
	a.Stored = StoredResult{Kind: KindVerify, Key: key, Status: StatusFound, Verdict: string(v.Verdict)}
	return a, a.encode()
}

func personAnswer(key string, p *customeros.PersonResult, seq int64) (*Answer, error) {
	a := &Answer{Data: ResultData{Person: p, Raw: p.Raw, Origin: OriginCall, For: seq}}
	a.Stored = StoredResult{Kind: KindPerson, Key: key, Status: StatusFound, Verdict: StatusFound}
	if !p.Found {
		a.Stored.Status, a.Stored.Verdict = StatusNotFound, StatusNotFound
	}
	return a, a.encode()
}

func orgAnswer(key string, o *customeros.OrganizationResult, seq int64) (*Answer, error) {
	a := &Answer{Data: ResultData{Organization: o, Raw: o.Raw, Origin: OriginCall, For: seq}}
	a.Stored = StoredResult{Kind: KindOrg, Key: key, Status: StatusFound, Verdict: StatusFound}
	if !o.Found {
		a.Stored.Status, a.Stored.Verdict = StatusNotFound, StatusNotFound
	}
	return a, a.encode()
}

// encode stores a.Data as JSON (encoding/json compacts the raw body, as
// the JSON output does either way).
func (a *Answer) encode() error {
	data, err := json.Marshal(&a.Data)
	if err != nil {
		return fmt.Errorf("encode the answer: %w", err)
	}
	a.Stored.Data = data
	return nil
}
