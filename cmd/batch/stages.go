package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/contactbatch/batch/contact"
)

// stageNeed is the input a stage flag cannot run without: one of fields.
type stageNeed struct {
	flag   string
	on     bool
	fields []contact.Field
	what   string
}

// checkStages refuses a stage flag whose input column is missing, so that a
// run never reports every row done after making no call: --verify needs an
// email column, --enrich-person an email or LinkedIn column, --enrich-org a
// domain, website, company LinkedIn or email column (an email on a non-free
// domain gives the domain). The error names the columns looked for and the
// header it read.
func checkStages(j *JobFlags, header []string, m contact.Mapping) error {
	has := func(fs []contact.Field) bool {
		return slices.ContainsFunc(fs, func(f contact.Field) bool { return slices.Contains(m, f) })
	}
	for _, n := range []stageNeed{
		{"--verify", j.Verify, []contact.Field{contact.FieldEmail}, "an email column"},
		{"--enrich-person", j.EnrichPerson, []contact.Field{contact.FieldEmail, contact.FieldLinkedInURL}, "an email or LinkedIn profile column"},
		{"--enrich-org", j.EnrichOrg, []contact.Field{contact.FieldDomain, contact.FieldWebsite, contact.FieldCompanyLinkedInURL, contact.FieldEmail},
			"a domain, website, company LinkedIn or email column"},
	} {
		if !n.on || has(n.fields) {
			continue
		}
		names := make([]string, len(n.fields))
		for i, f := range n.fields {
			names[i] = string(f)
		}
		return usagef("%s needs %s, and no column of the header %s maps to %s; name one with --map COLUMN=%s",
			n.flag, n.what, quoteList(header), strings.Join(names, ", "), names[0])
	}
	return nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// noteLocalOnly says, in one line, that a run without a stage flag makes no
// API call.
func noteLocalOnly(w io.Writer, j *JobFlags) {
	if !j.anyStage() {
		fmt.Fprintln(w, "batch: no stage flag (--verify, --enrich-person, --enrich-org): local checks only, no API calls")
	}
}
