package pipeline

import (
	"context"

	"github.com/contactbatch/batch/contact"
)

// Planner plans rows the way a run does: it normalizes the contact, checks
// the email locally (and its domain's MX records when MX is set) and lists
// the lookups the enabled stages need. The Runner and `batch estimate`
// share it, so an estimate counts the calls the run would make.
type Planner struct {
	// Checker makes the local checks; required.
	Checker *contact.Checker
	// MX, when set, makes an address whose domain has no MX record
	// invalid (a failed lookup leaves it valid).
	MX *contact.MXChecker
	// Stages are the enabled stages.
	Stages Stages
	// SendInvalid sends locally invalid addresses to the API anyway.
	SendInvalid bool
}

// Plan is one planned row.
type Plan struct {
	Contact contact.Contact
	Checks  contact.Checks
	Lookups []Lookup
}

// planner is the Planner of a run with cfg.
func (cfg *Config) planner() Planner {
	return Planner{Checker: cfg.Checker, MX: cfg.MX, Stages: cfg.Stages, SendInvalid: cfg.SendInvalid}
}

// Normalize returns c normalized.
func (p Planner) Normalize(c contact.Contact) contact.Contact {
	return contact.Normalize(c, p.Checker.NotCompany)
}

// Check plans a normalized contact: its checks and its lookups.
func (p Planner) Check(ctx context.Context, c contact.Contact) Plan {
	pl := Plan{Contact: c}
	if c.Email != "" {
		pl.Checks = p.Checker.Check(c.Email)
		if pl.Checks.Valid && p.MX != nil {
			ok, err := p.MX.HasMX(ctx, pl.Checks.Domain)
			if err == nil && !ok {
				pl.Checks.Valid = false
				pl.Checks.Reason = "domain has no MX record"
			}
		}
	}
	pl.Lookups = Lookups(c, pl.Checks, p.Stages, p.SendInvalid)
	return pl
}

// Plan normalizes and checks c.
func (p Planner) Plan(ctx context.Context, c contact.Contact) Plan {
	return p.Check(ctx, p.Normalize(c))
}
