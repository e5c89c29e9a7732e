package customeros

import "testing"

func TestBillingRules(t *testing.T) {
	valid := Syntax{IsValid: true}
	verifies := []struct {
		v    *Verification
		want bool
	}{
		{&Verification{Syntax: valid, Deliverable: "true"}, true},
		{&Verification{Syntax: valid, Deliverable: "false"}, true},
		{&Verification{Syntax: valid, Deliverable: "true", IsCatchAll: true}, true},
		{&Verification{Syntax: valid, Deliverable: "unknown", IsCatchAll: true}, false},
		{&Verification{Syntax: valid, Deliverable: "UNKNOWN"}, false},
		{&Verification{Syntax: valid, Deliverable: ""}, false},
		{&Verification{Deliverable: ""}, false}, // invalid syntax
		{nil, false},
	}
	for i, tc := range verifies {
		if got := tc.v.Billed(); got != tc.want {
			t.Errorf("verification %d (%+v): billed = %v, want %v", i, tc.v, got, tc.want)
		}
	}
	persons := []struct {
		p    *PersonResult
		want bool
	}{
		{&PersonResult{Found: true, Complete: true, Person: &Person{Emails: []PersonEmail{{Address: "a@b.com"}}}}, true},
		{&PersonResult{Found: true, Complete: true, Person: &Person{Phones: []string{"+1"}}}, true},
		{&PersonResult{Found: true, Complete: true, Person: &Person{FirstName: "Ann"}}, false},
		{&PersonResult{Found: true, Complete: false, ResultURL: "x", Person: &Person{FirstName: "Ann"}}, false},
		{&PersonResult{Found: false}, false},
		{nil, false},
	}
	for i, tc := range persons {
		if got := tc.p.BilledSync(); got != tc.want {
			t.Errorf("person %d: billed = %v, want %v", i, got, tc.want)
		}
	}
	if !(&OrganizationResult{Found: true}).Billed() || (&OrganizationResult{}).Billed() {
		t.Error("organization: billed on success only")
	}
}
