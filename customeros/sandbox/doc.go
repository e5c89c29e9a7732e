// Package sandbox is an emulator of the CustomerOS Enrichment and Verify
// APIs, served by `batch sandbox` for demos, tests and benchmarks. It follows
// the contract in docs/customeros-contract.md (both server generations, 202
// polling, bulk jobs, "warning" not-found answers, the odd 401 bodies) and
// can be hostile on demand. *Server is an http.Handler:
//
//	srv := httptest.NewServer(sandbox.New(sandbox.DefaultOptions()))
//
// # Options (suggested CLI flags in brackets)
//
//	Shape [--shape]            current (default) | legacy | mixed (per request key)
//	APIKey [--api-key]         only this key is accepted; else any non-empty key
//	                           (a key starting "disabled" gets "Api key disabled")
//	Latency, Jitter [--latency, --jitter]   added to each API request
//	RateLimit, RateBurst [--rate-limit, --rate-burst]  req/s per token bucket (burst = limit unless set);
//	                           excess → 429 + Retry-After (s)
//	RateScope [--rate-scope]   shared (one bucket, default) | endpoint (verify+bulk, person+polls,
//	                           organization) | key (one bucket per API key)
//	RateSchedule               steps of the limit after the first request (for example 200 → 20 → 200)
//	Fail500, Fail502, Fail503 [--fail-500 …] fractions of requests answered with that status
//	Reset [--reset]            fraction of connections dropped without an answer (not billed)
//	Hang, HangFor [--hang, --hang-for]      fraction held until the client gives up (or HangFor)
//	Truncate [--truncate]      fraction of 2xx answers cut in half (billed: the answer is lost)
//	AsyncFraction, AsyncDelay [--async, --async-delay]  person lookups answered 202, done after the delay (5 s)
//	BulkDelay [--bulk-delay]   bulk jobs stay "processing" this long (10 s)
//	Credits [--credits]        after this many billable events, billable endpoints answer 402
//	Seed [--seed]              faults, jitter, async choice, mixed shapes, ids
//
// Faults are reproducible under concurrency: each is decided by a hash of
// (seed, endpoint, key, n) where key is the request's natural key
// (address, email or LinkedIn URL, domain, result or job id; bulk uploads
// share one key) and n counts requests for that key, so a retry of the same
// key gets a fresh draw. The order of checks is: latency, rate limit (429),
// auth (401), fault, credits (402), handler.
//
// # Deterministic results
//
// Verify (also used for bulk rows and for emails found by enrichment);
// local = lower-cased local part, domain = lower-cased domain:
//
//	syntax: exactly one @, non-empty local ≤ 64, dotted domain, no spaces/dots at ends/".."
//	        else syntax.isValid false and deliverable ""
//	free provider: gmail.com, yahoo.com, hotmail.com, outlook.com (provider gmail/yahoo/microsoft)
//	role: local is info, sales, admin or support
//	system generated: local starts noreply, no-reply, donotreply, bounce
//	firewalled: domain starts "firewalled" or "secure" (secureGatewayProvider Proofpoint)
//	not primary: domain starts "alias" (alternateEmail local@<domain without "alias", "-", ".">)
//	mailbox full: local starts "full" or "mailboxfull"
//	catch-all: domain starts "catchall"
//	deliverable, first match: local starts bounce/invalid or mailbox full → "false";
//	  local or domain starts unknown → "unknown"; local starts valid → "true";
//	  catch-all → "unknown"; else hash(lower(address)) % 100: <80 "true", <92 "false", else "unknown"
//	isRisky: the server formula (firewalled ∨ role ∨ system ∨ free ∨ full ∨ ¬primary)
//
// Person (by email, or LinkedIn URL whose last path segment is the handle):
// a handle starting "nobody" or "ghost" is not found (current: 404 +
// status warning; legacy: 200 + warning). Names come from the handle
// (jane.doe → Jane Doe; one token gives a first name only and no fullName);
// the company from the email domain (acme-corp.com → "Acme Corp"), or for
// free providers and LinkedIn lookups from a hash-picked list (acme.com,
// globex.com, initech.com, umbrella.com, hooli.com). The email found is the
// queried address, or first.last@company for LinkedIn lookups; a handle
// starting "noemail" finds no email, "nophone" no phone; with
// includeMobileNumber=true the phone is +1415555 and 4 hash digits. A
// fraction AsyncFraction of keys answers 202 (emails and phones pending,
// resultUrl built from the request's Host); the result id encodes the
// lookup (no server state) and completes AsyncDelay after the first call.
//
// Organization (by domain, or LinkedIn company URL → <slug>.com): a domain
// label starting "unknown" or "nonexistent" is not found (404/200 +
// warning). Otherwise the name comes from the domain, other fields from a
// hash. The legacy typo route /enrich/v1/organizaiton is also served.
//
// Bulk: multipart upload (file part text/csv or *.csv; emailColumn when
// several columns; first row is a header; empty and duplicate cells
// skipped) → job id (current: api_ + 16 base62; legacy: UUID, picked per
// file content in mixed shape) → "processing" until BulkDelay → CSV in the
// legacy column order (TLSRequired twice). Before that, download answers
// 200 JSON (current) or 202 JSON (legacy).
//
// # Billing and counters
//
// Billable events follow CONTRACT §6.5: verify when syntax is valid and
// deliverable is not "unknown"; person when an email or phone is returned
// synchronously (async completions are not billed); organization on
// success; bulk per valid non-unknown record, counted when the job is
// accepted. Counters (GET /_sandbox/counters, zeroed by POST
// /_sandbox/reset) hold requests per endpoint and status, billable and
// repeated billable events per endpoint, unique keys per endpoint, faults,
// peak concurrency and the total. Runtime faults for outage drills: POST
// /_sandbox/down and /_sandbox/up (SetDown), POST /_sandbox/fail-keys
// (FailKeys).
package sandbox
