package contact_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/contactbatch/batch/contact"
)

// isemailClasses is the local syntax check's decision for each isemail
// diagnosis class that is not an error (the err* classes are all rejected:
// isemail says the address is not an address). The check is for addresses
// worth paying to verify in a contact list, so it accepts what a mail
// system routes to a person and rejects what is legal only in the RFCs'
// corners. The README's "Local syntax check" repeats this table.
var isemailClasses = map[string]bool{
	"valid":                        true,  // except test@io, see isemailPolicy
	"dnsWarnNoRecord":              true,  // DNS is not consulted here (--check-mx does, the API verifies)
	"dnsWarnNoMXRecord":            true,  // the same
	"rfc5321TLD":                   false, // test@org: a bare top-level domain takes no mail for people
	"rfc5321TLDNumeric":            false, // test@iana.123, test@255.255.255.255: no such TLD, or an IP in disguise
	"rfc5321QuotedString":          false, // "test"@iana.org: quoted local parts are refused (ReasonQuoted)
	"rfc5321AddressLiteral":        false, // test@[255.255.255.255]: IP literals are refused (ReasonIPLiteral)
	"rfc5322Domain":                false, // test@iana/icann.org: not a host name
	"rfc5322TooLong":               false, // over 254 bytes
	"rfc5322LocalTooLong":          false, // local part over 64 bytes
	"rfc5322DomainTooLong":         false, // domain over 253 bytes
	"rfc5322LabelTooLong":          false, // a label over 63 bytes
	"rfc5322DomainLiteral":         false, // [...] domains of any kind are refused
	"rfc5322DomainLiteralOBSDText": false,
	"rfc5322IPv62x2xColon":         false,
	"rfc5322IPv6BadCharacter":      false,
	"rfc5322IPv6ColonEnd":          false,
	"rfc5322IPv6ColonStart":        false,
	"rfc5322IPv6GroupCount":        false,
	"rfc5322IPv6MaxGroups":         false,
	"cfwsComment":                  false, // (comment)test@iana.org: comments are not part of an address to store
	"cfwsFWS":                      false, // folding white space (CRLF + space) inside or around the address
	"deprecatedLocalPart":          false, // "test".test@iana.org: obsolete quoted-word mixes
	"deprecatedFWS":                false, // test . test@iana.org
	"deprecatedQTEXT":              false, // control characters in a quoted string
	"deprecatedQP":                 false, // quoted control characters
	"deprecatedComment":            false, // comments between dots
	"deprecatedCTEXT":              false, // control characters in comments
	"deprecatedCFWSNearAt":         false, // " test @iana.org", test(comment)@iana.org
	"deprecatedIPv6":               false, // an IP literal, even a well-formed one
}

// isemailPolicy holds the cases whose verdict differs from their class's,
// and why.
var isemailPolicy = map[string]bool{
	"test@io": false, // isemail "valid": a dotless (TLD-only) domain is not sendable here (as rfc5321TLD)
}

// TestCheckIsemail runs the 185 cases of the isemail 2.2.0 test suite
// (testdata/isemail/tests.json, BSD-3-Clause, see LICENSE there) as a
// table test of the local syntax check: every err* case is rejected, and
// every other case gets its class's decision (isemailClasses) unless
// isemailPolicy names it. A class the table does not know fails the test.
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
	ck := contact.NewChecker()
	counts := map[bool]int{}
	seen := map[string]bool{}
	for _, tc := range cases {
		addr, class := tc[0], tc[1]
		want, known := isemailClasses[class]
		switch {
		case strings.HasPrefix(class, "err"):
			want = false
		case !known:
			t.Errorf("isemail class %s (%q) has no decision in isemailClasses", class, addr)
			continue
		}
		seen[class] = true
		if v, ok := isemailPolicy[addr]; ok {
			want = v
		}
		got := ck.Check(addr)
		counts[got.Valid]++
		if got.Valid != want {
			t.Errorf("Check(%q) [isemail %s] = %+v, want Valid %v", addr, class, got, want)
		}
		if got.Valid != (got.Reason == "") {
			t.Errorf("Check(%q) = %+v: Reason must be empty exactly when valid", addr, got)
		}
	}
	for class := range isemailClasses {
		if !seen[class] {
			t.Errorf("isemailClasses names %s, which no case has", class)
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
