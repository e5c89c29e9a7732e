package pipeline

import (
	"errors"
	"testing"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline/counter"
	"github.com/contactbatch/batch/pipeline/lookup"
)

func TestWorstAndRetryable(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, RowOK},
		{[]string{"", ""}, RowOK},
		{[]string{RowOK, RowNotFound}, RowNotFound},
		{[]string{RowNotFound, RowSkipped}, RowSkipped},
		{[]string{RowSkipped, RowInvalid, RowOK}, RowInvalid},
		{[]string{RowInvalid, RowRefused}, RowRefused},
		{[]string{RowRefused, RowPending}, RowPending},
		{[]string{RowFailed, RowPending, RowOK}, RowFailed},
	} {
		if got := Worst(tt.in...); got != tt.want {
			t.Errorf("Worst(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for s, want := range map[string]bool{RowOK: false, RowNotFound: false, RowSkipped: false, RowInvalid: false,
		RowRefused: false, RowPending: true, RowFailed: true} {
		if Retryable(s) != want {
			t.Errorf("Retryable(%q) = %v", s, !want)
		}
	}
	if n := RetryableRows(map[counter.Name]int64{"rows_ok": 5, "rows_error": 2, "rows_pending": 3, "rows_refused": 1}); n != 5 {
		t.Errorf("RetryableRows = %d, want 5", n)
	}
}

// TestRowState checks the state of rows as the runner completes them.
func TestRowState(t *testing.T) {
	checker := contact.NewChecker()
	verified := func(v customeros.Verdict) want {
		return want{wanted: true, res: &lookup.Answer{Stored: StoredResult{Status: StatusFound},
			Data: lookup.ResultData{Verification: &customeros.Verification{Verdict: v}}}}
	}
	found := want{wanted: true, res: &lookup.Answer{Stored: StoredResult{Status: StatusFound}}}
	notFound := want{wanted: true, res: &lookup.Answer{Stored: StoredResult{Status: StatusNotFound}}}
	pending := want{wanted: true, res: &lookup.Answer{Stored: StoredResult{Status: StatusPending}}}
	failed := want{wanted: true, err: &customeros.APIError{Status: 503, Retryable: true}}
	refused := want{wanted: true, err: &customeros.APIError{Status: 400, Err: customeros.ErrBadRequest}}
	timedOut := want{wanted: true, err: errors.New("bulk job j1 not completed")}
	all := Stages{Verify: true, EnrichPerson: true, EnrichOrg: true}
	for _, tt := range []struct {
		name                       string
		email                      string
		st                         Stages
		verify, person, org        want
		row, emailS, personS, orgS string
	}{
		{"every stage answered", "jane@acme.com", all, verified(customeros.Deliverable), found, found, RowOK, RowOK, RowOK, RowOK},
		{"undeliverable is an answer", "jane@acme.com", Stages{Verify: true}, verified(customeros.Undeliverable), want{}, want{}, RowOK, RowOK, "", ""},
		{"locally invalid email, org found", "eve@@double.com", Stages{Verify: true, EnrichOrg: true}, want{}, want{}, found,
			RowInvalid, RowInvalid, "", RowOK},
		{"no email with --verify", "", Stages{Verify: true, EnrichOrg: true}, want{}, want{}, found, RowSkipped, RowSkipped, "", RowOK},
		{"no email without --verify", "", Stages{EnrichOrg: true}, want{}, want{}, found, RowOK, "", "", RowOK},
		{"local checks only", "jane@acme.com", Stages{}, want{}, want{}, want{}, RowOK, RowOK, "", ""},
		{"local checks only, invalid", "jane@", Stages{}, want{}, want{}, want{}, RowInvalid, RowInvalid, "", ""},
		{"local checks only, no email", "", Stages{}, want{}, want{}, want{}, RowSkipped, RowSkipped, "", ""},
		{"invalid email not verified, person by LinkedIn", "jane@", Stages{EnrichPerson: true}, want{}, found, want{}, RowOK, RowInvalid, RowOK, ""},
		{"API verdict invalid", "jane@acme.com", Stages{Verify: true}, verified(customeros.Invalid), want{}, want{}, RowInvalid, RowInvalid, "", ""},
		{"person not found", "jane@acme.com", all, verified(customeros.Risky), notFound, found, RowNotFound, RowOK, RowNotFound, RowOK},
		{"org not looked up", "jane@acme.com", all, verified(customeros.Risky), found, want{}, RowSkipped, RowOK, RowOK, RowSkipped},
		{"pending person", "jane@acme.com", all, verified(customeros.Risky), pending, notFound, RowPending, RowOK, RowPending, RowNotFound},
		{"transient failure wins", "jane@acme.com", all, failed, pending, refused, RowFailed, RowFailed, RowPending, RowRefused},
		{"refused input", "jane@acme.com", Stages{Verify: true}, refused, want{}, want{}, RowRefused, RowRefused, "", ""},
		{"plain error is retryable", "jane@acme.com", Stages{Verify: true}, timedOut, want{}, want{}, RowFailed, RowFailed, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &record{contact: contact.Contact{Email: tt.email}, verify: tt.verify, person: tt.person, org: tt.org}
			if tt.email != "" {
				r.checks = checker.Check(tt.email)
			}
			if got := r.rowState(tt.st); got != tt.row {
				t.Errorf("row state = %q, want %q", got, tt.row)
			}
			if got := r.emailState(tt.st); got != tt.emailS {
				t.Errorf("email state = %q, want %q", got, tt.emailS)
			}
			if tt.st.EnrichPerson {
				if got := r.person.state(); got != tt.personS {
					t.Errorf("person state = %q, want %q", got, tt.personS)
				}
			}
			if tt.st.EnrichOrg {
				if got := r.org.state(); got != tt.orgS {
					t.Errorf("org state = %q, want %q", got, tt.orgS)
				}
			}
		})
	}
}
