// Package customeros is the client for the CustomerOS Enrichment and Verify
// APIs (the contract it follows is docs/customeros-contract.md in the
// repository): request building, tolerant decoding of both server
// generations ("legacy" flat bodies and "current" bodies with requestId and
// a nested email object), errors, retries and the normalized verdict.
//
// # Calls
//
//	c := customeros.New(baseURL, apiKey) // fields hold the documented defaults
//	v, err := c.VerifyEmail(ctx, "jane@acme.com")
//	p, err := c.EnrichPerson(ctx, customeros.PersonQuery{Email: "jane@acme.com"})
//	if p.Found && !p.Complete { /* park p.ResultURL; later */ p, err = c.PollPerson(ctx, p.ResultURL) }
//	o, err := c.EnrichOrganization(ctx, customeros.OrganizationQuery{Domain: "acme.com"})
//	job, err := c.SubmitBulkVerify(ctx, emails) // then BulkVerifyStatus / DownloadBulkVerify
//
// "Not found" (status "warning", HTTP 200 or 404) is a result with Found
// false, never an error; an invalid address is a Verification with Verdict
// Invalid. Errors are *APIError; errors.Is(err, ErrUnauthorized) (401),
// ErrPaymentRequired (402), ErrForbidden (403), ErrNotFound (other 404s),
// ErrBadRequest (other 4xx), ErrNotReady (bulk download too early) hold.
// Error texts never contain the key, a URL or a query string.
//
// # Retries
//
// Each call makes at most MaxAttempts attempts, each bounded by
// AttemptTimeout. Retried: 408, 425, 429, 500, 502, 503, 504, 507, 508,
// 520–529 (Classify), timeouts, connection resets/refusals, temporary DNS
// errors, and 2xx answers whose body is truncated or not valid JSON. Never
// retried: 400, 401, 402, 403, 404 and other 4xx, certificate errors,
// refused redirects. The wait is exponential backoff with jitter
// (cenkalti/backoff/v4, InitialBackoff doubling up to MaxBackoff), but at
// least the server's Retry-After (seconds or HTTP-date); a Retry-After
// longer than MaxRetryAfter is not slept: the *APIError carries it.
// SubmitBulkVerify is the exception (a resend is a new paid job): see its
// documentation. The Pacer is consulted before every attempt.
//
// Redirects are followed only to the same host and scheme (at most 3);
// PollPerson builds its URL from BaseURL and the id in resultUrl, so the key
// is only ever sent to BaseURL's host.
//
// # Verdicts
//
// The server's isRisky is not trusted (its formula changed, and the bulk CSV
// lacks it): Reasons are recomputed from the risk flags, in this order:
//
//	risk.isFreeProvider     free_provider
//	risk.isRoleMailbox      role
//	risk.isSystemGenerated  system_generated
//	risk.isFirewalled       firewalled
//	risk.isMailboxFull      mailbox_full
//	!risk.isPrimaryDomain   not_primary_domain (an absent flag counts as primary)
//
// IsRisky is len(Reasons) > 0. Verdict, first match wins:
//
//	syntax.isValid false                 invalid
//	deliverable "false"                  undeliverable
//	deliverable "true", any reason       risky
//	deliverable "true"                   deliverable
//	deliverable "unknown" + isCatchAll   catch_all
//	anything else ("unknown", "", new)   unknown
//
// "true" with isCatchAll is a mailbox a catch-all verifier confirmed:
// deliverable (or risky with reasons), with IsCatchAll still set for callers
// who want to be stricter (why: docs/DESIGN.md).
package customeros
