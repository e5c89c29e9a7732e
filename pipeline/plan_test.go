package pipeline_test

import (
	"context"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/lookup"
)

// TestPlannerMX: with MX set, an address whose domain has no MX record is
// invalid and needs no verify call; a domain with one keeps its lookups.
// `batch run` and `batch estimate` plan through the same Planner.
func TestPlannerMX(t *testing.T) {
	mx := &contact.MXChecker{LookupMX: func(_ context.Context, domain string) ([]*net.MX, error) {
		if domain == "acme.com" {
			return []*net.MX{{Host: "mx.acme.com.", Pref: 10}}, nil
		}
		return nil, nil
	}}
	p := pipeline.Planner{Checker: contact.NewChecker(), MX: mx, Stages: pipeline.Stages{Verify: true, EnrichOrg: true}}
	ctx := context.Background()

	pl := p.Plan(ctx, contact.Contact{Email: " Jane@Acme.com "})
	want := []pipeline.Lookup{{Kind: pipeline.KindVerify, Key: lookup.Key{By: lookup.ByEmail, Value: "jane@acme.com"}},
		{Kind: pipeline.KindOrg, Key: lookup.Key{By: lookup.ByDomain, Value: "acme.com"}}}
	if !pl.Checks.Valid || !cmp.Equal(pl.Lookups, want) {
		t.Errorf("acme.com: checks %+v, lookups %v; want valid, %v", pl.Checks, pl.Lookups, want)
	}

	pl = p.Plan(ctx, contact.Contact{Email: "jane@nomx.example"})
	if pl.Checks.Valid || pl.Checks.Reason != "domain has no MX record" {
		t.Errorf("nomx.example: checks %+v, want invalid for no MX record", pl.Checks)
	}
	for _, lk := range pl.Lookups {
		if lk.Kind == pipeline.KindVerify {
			t.Errorf("nomx.example: a verify lookup is planned: %v", pl.Lookups)
		}
	}

	p.SendInvalid = true
	if pl = p.Plan(ctx, contact.Contact{Email: "jane@nomx.example"}); len(pl.Lookups) == 0 || pl.Lookups[0].Kind != pipeline.KindVerify {
		t.Errorf("SendInvalid: lookups %v, want the verify lookup", pl.Lookups)
	}
}
