package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// By is what a lookup looks its subject up by.
type By string

// What lookups look up by.
const (
	ByEmail    By = "email"    // the normalized address
	ByLinkedIn By = "linkedin" // a person's or a company's LinkedIn URL
	ByDomain   By = "domain"   // a company's domain
)

// Key is what a lookup looks up: by what, and the normalized value.
type Key struct {
	By    By
	Value string
}

// ID is the key of (kind, k) as the engine dedupes it and as the ledger
// and the cache store it: the bare address for a verify lookup, "by:value"
// otherwise (for example "email:jane@acme.com", "domain:acme.com").
func (k Key) ID(kind Kind) string {
	if kind == KindVerify {
		return k.Value
	}
	return string(k.By) + ":" + k.Value
}

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
	Key     string // Key.ID of the lookup: the bare address for verify, "by:value" otherwise
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

// Ledger is the part of the durable job state the engine reads and writes:
// the answers bought for the job and the poll handles of async lookups.
// Every method is safe for concurrent use (the engine's workers call them
// at once); an error from any of them ends the run.
type Ledger interface {
	// Result returns the answer stored for (kind, key), or nil, nil when
	// there is none. It sees every PutResult that returned. A stored
	// record that fails its checks is an error, never a wrong answer.
	Result(ctx context.Context, kind Kind, key string) (*StoredResult, error)
	// PutResult stores r, replacing any answer for the same (Kind, Key)
	// (storing the same answer twice is harmless), then deletes the done
	// poll handles. r survives a process crash once PutResult returns nil
	// (a power loss: once the next Commit returns). A crash between the
	// two steps leaves a handle whose keys are answered, which Restore
	// drops. Data is copied before PutResult returns.
	PutResult(ctx context.Context, r StoredResult, done ...PendingID) error
	// PutPending stores p, replacing the handle with the same (Kind,
	// Handle). It is durable when it returns nil: the engine stores a
	// handle before it first polls it, so a crash never loses a paid
	// lookup.
	PutPending(ctx context.Context, p Pending) error
	// DeletePending deletes the handles; absent ones are ignored, so it is
	// idempotent. It is durable when it returns nil.
	DeletePending(ctx context.Context, ids ...PendingID) error
	// Pending returns every stored handle, oldest first (none: an empty
	// slice and nil).
	Pending(ctx context.Context) ([]Pending, error)
}

// Cache keeps answers across runs and jobs. Both methods are safe for
// concurrent use. A local cache is an optimization: the engine logs a Get
// error and calls the API instead, and logs a Put error and goes on. A
// shared cache (Config.SharedCache) is part of the job's state: a Put that
// fails stops the run resumably, and its row is not done.
type Cache interface {
	// Get returns the answer cached for (kind, key), or nil, nil when there
	// is none or it has expired. It sees earlier Puts, written yet or not.
	// A shared cache returns an error matching ErrClaimed when another
	// process holds a live claim on the key (it is paying for it now): the
	// engine parks the lookup and asks again later, without holding a
	// worker. A nil, nil from a shared cache means this process holds the
	// claim and is to pay.
	Get(ctx context.Context, kind Kind, key string) (*StoredResult, error)
	// Put caches r, replacing any entry for (Kind, Key); FetchedAt (now
	// when zero) starts its time to live. It may be asynchronous: nothing
	// is durable when it returns, and a write error may be reported by a
	// later Put. An answer whose verdict has no time to live is not kept.
	Put(ctx context.Context, r StoredResult) error
}

// ErrClaimed is what a shared Cache's Get returns when another process
// holds a live claim on the key: that process is paying for it, and its
// answer will be in the cache when its claim is released (or the claim
// expires, and the next Get takes it over).
var ErrClaimed = errors.New("another process is looking the key up")

// API is the part of the CustomerOS client the engine calls. Every method
// is safe for concurrent use, makes one logical call (the client retries
// within its own limits and pacing) and may be billed, so none is
// idempotent in cost: the engine calls each key once per job. Errors are a
// *customeros.APIError (its Status and the customeros sentinels it wraps,
// such as ErrUnauthorized or ErrPaymentRequired, say why), a transport
// error, or ctx's error.
type API interface {
	// VerifyEmail verifies one address. Invalid syntax is a verdict, not
	// an error. Billed unless the verdict is unknown.
	VerifyEmail(ctx context.Context, address string) (*customeros.Verification, error)
	// EnrichPerson looks a person up by email or LinkedIn URL. Not found is
	// a result with Found false. An async answer has Complete false and a
	// ResultURL to hand to PollPerson.
	EnrichPerson(ctx context.Context, q customeros.PersonQuery) (*customeros.PersonResult, error)
	// PollPerson fetches an async person result once; Complete is false
	// while it is pending. An unknown handle is an *APIError with Status
	// 404 (the engine forgets the handle).
	PollPerson(ctx context.Context, resultURL string) (*customeros.PersonResult, error)
	// EnrichOrganization looks a company up by domain or LinkedIn URL. Not
	// found is a result with Found false.
	EnrichOrganization(ctx context.Context, q customeros.OrganizationQuery) (*customeros.OrganizationResult, error)
	// SubmitBulkVerify uploads one bulk verify job and returns its id and
	// estimated completion. Each upload is a new job: it is retried only
	// when the server cannot have acted on it.
	SubmitBulkVerify(ctx context.Context, emails []string) (*customeros.BulkJob, error)
	// BulkVerifyStatus fetches a job's progress. An unknown job is an
	// *APIError with Status 404.
	BulkVerifyStatus(ctx context.Context, jobID string) (*customeros.BulkStatus, error)
	// DownloadBulkVerify fetches a completed job's per-address results,
	// or customeros.ErrNotReady while it is still processing.
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
	return enrichAnswer(KindPerson, key, ResultData{Person: p, Raw: p.Raw, Origin: OriginCall, For: seq}, p.Found)
}

func orgAnswer(key string, o *customeros.OrganizationResult, seq int64) (*Answer, error) {
	return enrichAnswer(KindOrg, key, ResultData{Organization: o, Raw: o.Raw, Origin: OriginCall, For: seq}, o.Found)
}

// enrichAnswer is the answer of an enrichment call (person or
// organization): its status and verdict are found or not found.
func enrichAnswer(kind Kind, key string, d ResultData, found bool) (*Answer, error) {
	st := StatusFound
	if !found {
		st = StatusNotFound
	}
	a := &Answer{Data: d, Stored: StoredResult{Kind: kind, Key: key, Status: st, Verdict: st}}
	return a, a.encode()
}

// encode stores a.Data as JSON: the decoded answer, with the raw body
// appended as it came. The body is valid JSON (the client's decoders, and
// decodeAnswer for a stored one, validated it); encoding/json would only
// scan and compact it again, a large share of the CPU an answer costs.
func (a *Answer) encode() error {
	d := a.Data
	raw := bytes.TrimSpace(d.Raw)
	d.Raw = nil
	data, err := json.Marshal(&d)
	if err != nil {
		return fmt.Errorf("encode the answer: %w", err)
	}
	if len(raw) > 0 {
		// data is an object with "for" in it: close it after the body.
		out := make([]byte, 0, len(data)+len(raw)+8)
		out = append(out, data[:len(data)-1]...)
		out = append(out, `,"raw":`...)
		out = append(out, raw...)
		data = append(out, '}')
	}
	a.Stored.Data = data
	return nil
}
