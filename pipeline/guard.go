package pipeline

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/contactbatch/batch/customeros"
)

// guard is the API as the lookups see it: every call's outcome goes to the
// run's breaker, and once the breaker is open no call is made and every
// failing call returns the *customeros.OutageError, which stops the run
// resumably with the row unwritten (calls in flight are abandoned).
//
// A lookup whose call failed transiently while the breaker is closed is
// held, its worker waiting, until the failure can be told apart from an
// outage: the breaker opens (an outage: the row stays unwritten); or
// another call to the endpoint succeeds after the failure (the service
// answers, this key does not: the lookup fails, the row is written error,
// retryable); or no other call to the endpoint is in flight (nothing more
// to learn). In that last case the lookup is tried once more, and held again
// the same way if it fails again, ending as an error. During an outage the
// workers' failures pile up while they are held, so with at least as many
// workers as the breaker's streak it opens before any row is written as an
// error. Only idempotent calls are held and tried again: not bulk uploads
// (a resend is a new paid job) nor polls (the poll scheduler tries them
// again).
//
// Polls are each their own observation of the service (a poll key is the
// handle and a sequence number), so that an outage seen only by the polls
// of one bulk job still opens the breaker.
type guard struct {
	api   API
	b     *customeros.Breaker
	polls atomic.Uint64

	mu      sync.Mutex
	eps     map[customeros.Endpoint]*guardState
	changed chan struct{} // closed and replaced whenever an endpoint's state changes
}

// guardState is what the held lookups of one endpoint wait on.
type guardState struct {
	active    int    // calls in flight
	successes uint64 // calls answered without a transient failure
}

func newGuard(api API, b *customeros.Breaker) *guard {
	return &guard{api: api, b: b, eps: map[customeros.Endpoint]*guardState{}, changed: make(chan struct{})}
}

// pollKey is the breaker key of one poll of handle.
func (g *guard) pollKey(handle string) string {
	return handle + "#" + strconv.FormatUint(g.polls.Add(1), 10)
}

var _ API = (*guard)(nil)

// begin counts a call to ep in flight.
func (g *guard) begin(ep customeros.Endpoint) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.eps[ep]
	if st == nil {
		st = &guardState{}
		g.eps[ep] = st
	}
	st.active++
}

// end counts a call to ep done and returns the endpoint's successes so far.
func (g *guard) end(ep customeros.Endpoint, failed bool) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.eps[ep]
	st.active--
	if !failed {
		st.successes++
	}
	close(g.changed)
	g.changed = make(chan struct{})
	return st.successes
}

// hold waits after a transient failure of ep seen when the endpoint had
// mark successes. It reports whether the service answered another call
// since (evidence that the failure is this key's); false means no call is
// in flight any more. It returns ctx's error, or the outage, if either
// ends the wait.
func (g *guard) hold(ctx context.Context, ep customeros.Endpoint, mark uint64) (answered bool, err error) {
	for {
		g.mu.Lock()
		st := g.eps[ep]
		answered, idle, ch := st.successes > mark, st.active == 0, g.changed
		g.mu.Unlock()
		if err := g.b.Err(); err != nil {
			return false, err
		}
		if answered || idle {
			return answered, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if err := g.b.Err(); err != nil {
				return false, err
			}
			return false, ctx.Err()
		}
	}
}

// do runs call for (ep, key), recording each outcome; again allows holding
// and one more try after a transient failure.
func do[T any](ctx context.Context, g *guard, ep customeros.Endpoint, key string, again bool, call func(context.Context) (T, error)) (T, error) {
	var zero T
	// A call in flight when the breaker opens is abandoned.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.b.Context(), cancel)()
	for try := 0; ; try++ {
		if err := g.b.Err(); err != nil {
			return zero, err
		}
		g.begin(ep)
		v, err := call(ctx)
		oe := g.b.Record(ep, key, err)
		transient := customeros.Transient(err)
		mark := g.end(ep, transient)
		if oe != nil && (transient || ctx.Err() != nil) {
			return zero, oe
		}
		if !again || !transient || ctx.Err() != nil {
			return v, err
		}
		answered, herr := g.hold(ctx, ep, mark)
		var ho *customeros.OutageError
		if errors.As(herr, &ho) {
			return zero, herr
		}
		if herr != nil || answered || try > 0 {
			return v, err
		}
	}
}

// VerifyEmail calls the API's VerifyEmail through the breaker.
func (g *guard) VerifyEmail(ctx context.Context, address string) (*customeros.Verification, error) {
	return do(ctx, g, customeros.EndpointVerify, address, true, func(ctx context.Context) (*customeros.Verification, error) {
		return g.api.VerifyEmail(ctx, address)
	})
}

// EnrichPerson calls the API's EnrichPerson through the breaker.
func (g *guard) EnrichPerson(ctx context.Context, q customeros.PersonQuery) (*customeros.PersonResult, error) {
	key := q.Email
	if key == "" {
		key = q.LinkedInURL
	}
	return do(ctx, g, customeros.EndpointPerson, key, true, func(ctx context.Context) (*customeros.PersonResult, error) {
		return g.api.EnrichPerson(ctx, q)
	})
}

// PollPerson calls the API's PollPerson through the breaker (the poll
// scheduler retries it: no second try here).
func (g *guard) PollPerson(ctx context.Context, resultURL string) (*customeros.PersonResult, error) {
	return do(ctx, g, customeros.EndpointPersonPoll, g.pollKey(resultURL), false, func(ctx context.Context) (*customeros.PersonResult, error) {
		return g.api.PollPerson(ctx, resultURL)
	})
}

// EnrichOrganization calls the API's EnrichOrganization through the breaker.
func (g *guard) EnrichOrganization(ctx context.Context, q customeros.OrganizationQuery) (*customeros.OrganizationResult, error) {
	key := q.Domain
	if key == "" {
		key = q.LinkedInURL
	}
	return do(ctx, g, customeros.EndpointOrganization, key, true, func(ctx context.Context) (*customeros.OrganizationResult, error) {
		return g.api.EnrichOrganization(ctx, q)
	})
}

// SubmitBulkVerify calls the API's SubmitBulkVerify through the breaker,
// never twice (a resend is a new paid job).
func (g *guard) SubmitBulkVerify(ctx context.Context, emails []string) (*customeros.BulkJob, error) {
	key := ""
	if len(emails) > 0 {
		key = emails[0]
	}
	return do(ctx, g, customeros.EndpointBulkSubmit, key, false, func(ctx context.Context) (*customeros.BulkJob, error) {
		return g.api.SubmitBulkVerify(ctx, emails)
	})
}

// BulkVerifyStatus calls the API's BulkVerifyStatus through the breaker.
func (g *guard) BulkVerifyStatus(ctx context.Context, jobID string) (*customeros.BulkStatus, error) {
	return do(ctx, g, customeros.EndpointBulkStatus, g.pollKey(jobID), false, func(ctx context.Context) (*customeros.BulkStatus, error) {
		return g.api.BulkVerifyStatus(ctx, jobID)
	})
}

// DownloadBulkVerify calls the API's DownloadBulkVerify through the breaker.
func (g *guard) DownloadBulkVerify(ctx context.Context, jobID string) ([]customeros.Verification, error) {
	return do(ctx, g, customeros.EndpointBulkDownload, g.pollKey(jobID), false, func(ctx context.Context) ([]customeros.Verification, error) {
		return g.api.DownloadBulkVerify(ctx, jobID)
	})
}
