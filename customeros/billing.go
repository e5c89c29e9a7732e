package customeros

import "strings"

// Billing follows the contract's billing rules (CONTRACT §6.5): what the
// service charges for is decided by the answer, not by the request. These
// methods are the one definition of "paid" for the client's callers; the
// emulator (package sandbox) bills by the same rules.

// Billed reports whether the service billed this verification. A single
// verify and each bulk record are billed when the syntax is valid and the
// deliverable state is known ("true" or "false"): "unknown" is free, and
// an empty value is read as unknown (the current server maps "" to it).
func (v *Verification) Billed() bool {
	if v == nil || !v.Syntax.IsValid {
		return false
	}
	d := strings.TrimSpace(v.Deliverable)
	return d != "" && !strings.EqualFold(d, "unknown")
}

// BilledSync reports whether a synchronous person enrichment (EnrichPerson,
// not PollPerson) was billed: when its answer carries an email or a phone
// number. An asynchronous completion fetched by PollPerson is not billed.
func (p *PersonResult) BilledSync() bool {
	return p != nil && p.Found && p.Person != nil && (len(p.Person.Emails) > 0 || len(p.Person.Phones) > 0)
}

// Billed reports whether an organization enrichment was billed: on
// success, that is when the organization was found.
func (o *OrganizationResult) Billed() bool { return o != nil && o.Found }
