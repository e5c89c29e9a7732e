package contact_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/contactbatch/batch/contact"
)

// TestCheckIsemail runs the 185 cases of isemail 1.2.0 (testdata/isemail,
// BSD licence). Category rule: err* are invalid; valid and dnsWarn* are
// valid; every other category (rfc5321*, rfc5322*, cfws*, deprecated*) is
// invalid by policy: those addresses are RFC-legal or tolerated but not
// sendable (quoted local parts, IP literals, comments, folding white space,
// numeric or bare TLDs, over-long parts).
func TestCheckIsemail(t *testing.T) {
	raw, err := os.ReadFile("testdata/isemail/tests.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]string
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != 185 {
		t.Fatalf("read %d isemail cases, want 185", len(cases))
	}
	// Cases whose verdict here differs from the category rule, and why.
	policy := map[string]bool{
		"test@io": false, // isemail "valid": a dotless (TLD-only) domain is not sendable here
	}
	ck := contact.NewChecker()
	counts := map[bool]int{}
	for _, tc := range cases {
		addr, diag := tc[0], tc[1]
		want := diag == "valid" || strings.HasPrefix(diag, "dnsWarn")
		if v, ok := policy[addr]; ok {
			want = v
		}
		got := ck.Check(addr)
		counts[got.Valid]++
		if got.Valid != want {
			t.Errorf("Check(%q) [isemail %s] = %+v, want Valid %v", addr, diag, got, want)
		}
		if got.Valid != (got.Reason == "") {
			t.Errorf("Check(%q) = %+v: Reason must be empty exactly when valid", addr, got)
		}
	}
	t.Logf("isemail: %d valid, %d invalid", counts[true], counts[false])
}

func TestCheck(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		email string
		want  contact.Checks
	}{
		{"jane.doe@acme.com", contact.Checks{Valid: true, Domain: "acme.com"}},
		{"jane+news@acme.co.uk", contact.Checks{Valid: true, Domain: "acme.co.uk"}},
		{"o'brien@acme.ie", contact.Checks{Valid: true, Domain: "acme.ie"}},
		{"jane@bücher.de", contact.Checks{Valid: true, Domain: "xn--bcher-kva.de"}},
		{"jane@xn--bcher-kva.de", contact.Checks{Valid: true, Domain: "xn--bcher-kva.de"}},
		{"jürgen@bücher.de", contact.Checks{Valid: true, Domain: "xn--bcher-kva.de"}},
		{"jane@gmail.com", contact.Checks{Valid: true, Free: true, Domain: "gmail.com"}},
		{"info@acme.com", contact.Checks{Valid: true, Role: true, Domain: "acme.com"}},
		{"no-reply+x@acme.com", contact.Checks{Valid: true, Role: true, Domain: "acme.com"}},
		{"x@mailinator.com", contact.Checks{Valid: true, Free: true, Disposable: true, Domain: "mailinator.com"}},
		{"x@box.33mail.com", contact.Checks{Valid: true, Disposable: true, Domain: "box.33mail.com"}},
		{"sales@yopmail.com", contact.Checks{Valid: true, Free: true, Role: true, Disposable: true, Domain: "yopmail.com"}},
		{long(64) + "@acme.com", contact.Checks{Valid: true, Domain: "acme.com"}},
		{"", contact.Checks{Reason: contact.ReasonEmpty}},
		{"jane.acme.com", contact.Checks{Reason: contact.ReasonMissingAt}},
		{"@acme.com", contact.Checks{Reason: contact.ReasonNoLocalPart, Domain: "acme.com"}},
		{"info@", contact.Checks{Reason: contact.ReasonNoDomain, Role: true}},
		{`"jane doe"@acme.com`, contact.Checks{Reason: contact.ReasonQuoted, Domain: "acme.com"}},
		{"jane@[127.0.0.1]", contact.Checks{Reason: contact.ReasonIPLiteral}},
		{"jane@127.0.0.1", contact.Checks{Reason: contact.ReasonNumericTLD, Domain: "127.0.0.1"}},
		{long(65) + "@acme.com", contact.Checks{Reason: contact.ReasonLocalTooLong, Domain: "acme.com"}},
		{"jane doe@acme.com", contact.Checks{Reason: contact.ReasonSyntax, Domain: "acme.com"}},
		{"jane..doe@acme.com", contact.Checks{Reason: contact.ReasonSyntax, Domain: "acme.com"}},
		{"jane@@acme.com", contact.Checks{Reason: contact.ReasonSyntax, Domain: "acme.com"}},
		{"jane@acme.com (work)", contact.Checks{Reason: contact.ReasonSyntax}},
		{"jane@-acme.com", contact.Checks{Reason: contact.ReasonDomain}},
		{"jane@acme-.com", contact.Checks{Reason: contact.ReasonDomain}},
		{"jane@acme_corp.com", contact.Checks{Reason: contact.ReasonDomain}},
		{"jane@localhost", contact.Checks{Reason: contact.ReasonDomainNoDot, Domain: "localhost"}},
		{"jane@" + long(64) + ".com", contact.Checks{Reason: contact.ReasonLabelTooLong, Domain: long(64) + ".com"}},
		{"jane@" + strings.Repeat(long(62)+".", 4) + "com", contact.Checks{Reason: contact.ReasonDomainTooLong, Domain: strings.Repeat(long(62)+".", 4) + "com"}},
		{long(64) + "@" + strings.Repeat(long(62)+".", 3) + "com", contact.Checks{Reason: contact.ReasonTooLong, Domain: strings.Repeat(long(62)+".", 3) + "com"}},
	}
	ck := contact.NewChecker()
	for _, tt := range tests {
		if got := ck.Check(tt.email); got != tt.want {
			t.Errorf("Check(%q) = %+v, want %+v", tt.email, got, tt.want)
		}
	}
}

func TestCheckerLists(t *testing.T) {
	ck := contact.NewChecker()
	tests := []struct {
		domain                       string
		free, disposable, notCompany bool
	}{
		{"gmail.com", true, false, true},
		{"GMAIL.COM.", true, false, true},
		{"googlemail.com", true, false, true},
		{"yahoo.co.uk", true, false, true},
		{"web.de", true, false, true},
		{"qq.com", true, false, true},
		{"mailinator.com", true, true, true},
		{"sub.mailinator.com", false, true, true}, // eTLD+1 listed
		{"a.b.33mail.com", false, true, true},     // wildcard entry
		{"33mail.com", true, true, true},          // the wildcard entry itself
		{"trashmail.de", true, true, true},        // both lists
		{"acme.com", false, false, false},         // a company
		{"mail.acme.com", false, false, false},    // a company subdomain
		{"xmailinator.com", false, false, false},  // suffix but not a label boundary
		{"mailinator.com.evil.example", false, false, false},
		{"", false, false, false},
	}
	for _, tt := range tests {
		if got := ck.IsFree(tt.domain); got != tt.free {
			t.Errorf("IsFree(%q) = %v, want %v", tt.domain, got, tt.free)
		}
		if got := ck.IsDisposable(tt.domain); got != tt.disposable {
			t.Errorf("IsDisposable(%q) = %v, want %v", tt.domain, got, tt.disposable)
		}
		if got := ck.NotCompany(tt.domain); got != tt.notCompany {
			t.Errorf("NotCompany(%q) = %v, want %v", tt.domain, got, tt.notCompany)
		}
	}

	roles := []struct {
		local string
		want  bool
	}{
		{"info", true}, {"INFO", true}, {"sales", true}, {"support", true}, {"noreply", true},
		{"no-reply", true}, {"no_reply", true}, {"postmaster", true}, {"abuse", true},
		{"hr", true}, {"info+newsletter", true}, {"careers", true},
		{"jane", false}, {"jane.doe", false}, {"information.officer", false}, {"", false}, {"+info", false},
	}
	for _, tt := range roles {
		if got := ck.IsRole(tt.local); got != tt.want {
			t.Errorf("IsRole(%q) = %v, want %v", tt.local, got, tt.want)
		}
	}
}

// TestListFiles checks that every embedded list names its source on its first
// line, holds only lower-case sorted unique entries, and has its licence
// text beside it.
func TestListFiles(t *testing.T) {
	tests := []struct {
		file, pkg, licence string
		min                int
	}{
		{"lists/disposable.txt", "npm disposable-email-domains@", "LICENSE.disposable-email-domains", 100000},
		{"lists/disposable_wildcard.txt", "npm disposable-email-domains@", "LICENSE.disposable-email-domains", 300},
		{"lists/free.txt", "npm free-email-domains@", "LICENSE.free-email-domains", 10000},
		{"lists/role.txt", "npm role-based-email-addresses@", "LICENSE.role-based-email-addresses", 500},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
			if h := lines[0]; !strings.HasPrefix(h, "# source: "+tt.pkg) || !strings.Contains(h, "licence MIT") {
				t.Errorf("header line = %q, want source %s and licence", h, tt.pkg)
			}
			entries := lines[1:]
			if len(entries) < tt.min {
				t.Errorf("%d entries, want at least %d", len(entries), tt.min)
			}
			for i, e := range entries {
				if e == "" || e != strings.ToLower(strings.TrimSpace(e)) || strings.HasPrefix(e, "#") {
					t.Errorf("entry %d = %q: want trimmed lower-case, not a comment", i+2, e)
				}
				if i > 0 && entries[i-1] >= e {
					t.Errorf("entries %q, %q: not sorted and unique", entries[i-1], e)
				}
			}
			if _, err := os.Stat("lists/" + tt.licence); err != nil {
				t.Errorf("licence text: %v", err)
			}
		})
	}
}
