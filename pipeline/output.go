package pipeline

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline/lookup"
)

// Stages says which API stages a run uses.
type Stages struct {
	Verify       bool
	EnrichPerson bool
	EnrichOrg    bool
}

// kinds lists the lookup kinds of the enabled stages.
func (st Stages) kinds() []Kind {
	var ks []Kind
	if st.Verify {
		ks = append(ks, KindVerify)
	}
	if st.EnrichPerson {
		ks = append(ks, KindPerson)
	}
	if st.EnrichOrg {
		ks = append(ks, KindOrg)
	}
	return ks
}

type column struct {
	name string
	typ  ColumnType
	get  func(r *record) string
}

// columns lists the result columns for the enabled stages, in output order.
func columns(st Stages) []column {
	cols := []column{
		{"row_status", TypeText, func(r *record) string { return r.rowState(st) }},
		{"row_error", TypeText, func(r *record) string { return r.errorText() }},
		{"email_status", TypeText, func(r *record) string { return r.emailState(st) }},
		{"email_normalized", TypeText, func(r *record) string { return r.contact.Email }},
		{"email_check", TypeText, func(r *record) string { return r.checkText() }},
		{"email_free", TypeBool, func(r *record) string { return boolIf(r.contact.Email != "", r.checks.Free) }},
		{"email_role", TypeBool, func(r *record) string { return boolIf(r.contact.Email != "", r.checks.Role) }},
		{"email_disposable", TypeBool, func(r *record) string { return boolIf(r.contact.Email != "", r.checks.Disposable) }},
	}
	if st.Verify {
		v := func(r *record) *customeros.Verification { return r.verify.res.Verification() }
		cols = append(cols,
			column{"email_verdict", TypeText, func(r *record) string { return r.verdict() }},
			column{"email_reasons", TypeText, func(r *record) string {
				if x := v(r); x != nil {
					return strings.Join(x.Reasons, ";")
				}
				return ""
			}},
			column{"email_provider", TypeText, func(r *record) string {
				if x := v(r); x != nil {
					return x.Provider
				}
				return ""
			}},
			column{"email_secure_gateway", TypeText, func(r *record) string {
				if x := v(r); x != nil {
					return x.SecureGatewayProvider
				}
				return ""
			}},
			column{"email_catch_all", TypeBool, func(r *record) string {
				if x := v(r); x != nil {
					return strconv.FormatBool(x.IsCatchAll)
				}
				return ""
			}},
			column{"email_alternate", TypeText, func(r *record) string {
				if x := v(r); x != nil {
					return x.AlternateEmail
				}
				return ""
			}},
		)
	}
	if st.EnrichPerson {
		p := func(r *record) *customeros.Person {
			if res := r.person.res.Person(); res != nil {
				return res.Person
			}
			return nil
		}
		str := func(f func(*customeros.Person) string) func(r *record) string {
			return func(r *record) string {
				if x := p(r); x != nil {
					return f(x)
				}
				return ""
			}
		}
		cols = append(cols,
			column{"person_status", TypeText, func(r *record) string { return r.person.state() }},
			column{"person_first_name", TypeText, str(func(x *customeros.Person) string { return x.FirstName })},
			column{"person_last_name", TypeText, str(func(x *customeros.Person) string { return x.LastName })},
			column{"person_full_name", TypeText, str(func(x *customeros.Person) string { return x.FullName })},
			column{"person_title", TypeText, str(func(x *customeros.Person) string { return x.Title })},
			column{"person_company", TypeText, str(func(x *customeros.Person) string { return x.Company })},
			column{"person_company_website", TypeText, str(func(x *customeros.Person) string { return x.CompanyWebsite })},
			column{"person_linkedin_url", TypeText, str(func(x *customeros.Person) string { return x.LinkedInURL })},
			column{"person_location", TypeText, str(func(x *customeros.Person) string { return x.Location })},
			column{"person_work_email", TypeText, str(func(x *customeros.Person) string {
				for _, e := range x.Emails {
					if e.Address != "" {
						return e.Address
					}
				}
				return ""
			})},
			column{"person_phone", TypeText, str(func(x *customeros.Person) string {
				if len(x.Phones) > 0 {
					return x.Phones[0]
				}
				return ""
			})},
		)
	}
	if st.EnrichOrg {
		o := func(r *record) *customeros.Organization {
			if res := r.org.res.Organization(); res != nil {
				return res.Organization
			}
			return nil
		}
		str := func(f func(*customeros.Organization) string) func(r *record) string {
			return func(r *record) string {
				if x := o(r); x != nil {
					return f(x)
				}
				return ""
			}
		}
		num := func(n int) string {
			if n == 0 {
				return ""
			}
			return strconv.Itoa(n)
		}
		cols = append(cols,
			column{"org_status", TypeText, func(r *record) string { return r.org.state() }},
			column{"org_name", TypeText, str(func(x *customeros.Organization) string { return x.Name })},
			column{"org_domain", TypeText, str(func(x *customeros.Organization) string { return x.Domain })},
			column{"org_website", TypeText, str(func(x *customeros.Organization) string { return x.Website })},
			column{"org_industry", TypeText, str(func(x *customeros.Organization) string { return x.Industry })},
			column{"org_employees", TypeInt, str(func(x *customeros.Organization) string { return num(x.Employees) })},
			column{"org_founded_year", TypeInt, str(func(x *customeros.Organization) string { return num(x.FoundedYear) })},
			column{"org_country", TypeText, str(func(x *customeros.Organization) string { return x.Country })},
			column{"org_city", TypeText, str(func(x *customeros.Organization) string { return x.City })},
			column{"org_linkedin_url", TypeText, str(func(x *customeros.Organization) string { return x.LinkedInURL })},
		)
	}
	return cols
}

// ResultSchema returns the schema of a run's outputs: the input header and
// the result columns of the enabled stages.
func ResultSchema(header []string, st Stages) Schema {
	s := Schema{Input: header}
	for _, c := range columns(st) {
		s.Result = append(s.Result, c.name)
		s.Types = append(s.Types, c.typ)
	}
	return s
}

func boolIf(ok, v bool) string {
	if !ok {
		return ""
	}
	return strconv.FormatBool(v)
}

// want is one lookup a record needs, and its outcome: the answer or the
// error.
type want struct {
	wanted bool
	key    string
	res    *lookup.Answer
	err    error
	rec    *record // the record this is part of
}

// Done records the outcome and hands the record on when it was the last
// one outstanding (lookup.Waiter).
func (l *want) Done(ctx context.Context, a *lookup.Answer, err error) {
	l.res, l.err = a, err
	l.rec.run.lookupDone(ctx, l.rec)
}

// want returns rec's lookup of kind k.
func (r *record) want(k Kind) *want {
	switch k {
	case KindVerify:
		return &r.verify
	case KindPerson:
		return &r.person
	}
	return &r.org
}

// record is one input row on its way through the run.
type record struct {
	seq    int64
	row    Row
	reject *Reject
	// otherShard marks a row that another shard of the job processes: it
	// is read and counted, never looked up or written here.
	otherShard bool

	contact contact.Contact
	checks  contact.Checks

	verify, person, org want
	run                 *Runner

	// waiting counts outstanding lookups plus one for the planner; the record
	// is ready when it drops to zero.
	waiting atomic.Int32
}

func (r *record) errorText() string {
	var msgs []string
	for _, k := range lookup.Kinds() {
		l := r.want(k)
		if l.wanted && l.err != nil {
			msgs = append(msgs, l.err.Error())
		}
	}
	return strings.Join(msgs, "; ")
}

func (r *record) checkText() string {
	switch {
	case r.contact.Email == "":
		return ""
	case r.checks.Valid:
		return "ok"
	}
	return r.checks.Reason
}

func (r *record) verdict() string {
	switch {
	case r.contact.Email == "":
		return ""
	case !r.checks.Valid && !r.verify.wanted:
		return string(customeros.Invalid)
	case r.verify.res.Verification() != nil:
		return string(r.verify.res.Verification().Verdict)
	}
	return ""
}

// output builds what the sinks write for r.
func (r *record) output(cols []column, nested bool) *Output {
	out := &Output{
		Seq:    r.seq,
		Line:   r.row.Line,
		Origin: r.row.Origin,
		Values: r.row.Values,
		Email:  r.contact.Email,
		Result: make([]string, len(cols)),
	}
	for i, c := range cols {
		out.Result[i] = c.get(r)
	}
	if !nested {
		return out
	}
	add := func(name string, l *want, v any) {
		if !l.wanted || l.res == nil {
			return
		}
		if b, err := json.Marshal(v); err == nil && string(b) != "null" {
			out.Nested = append(out.Nested, Field{Name: name, Value: b})
		}
		if len(l.res.Data.Raw) > 0 {
			out.Raw = append(out.Raw, Field{Name: name, Value: l.res.Data.Raw})
		}
	}
	add("verification", &r.verify, r.verify.res.Verification())
	add("person", &r.person, r.person.res.Person())
	add("organization", &r.org, r.org.res.Organization())
	return out
}
