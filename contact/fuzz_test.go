package contact_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/contactbatch/batch/contact"
)

// FuzzNormalizeEmail checks that normalizing is idempotent, trims, lower-
// cases, and that the checker accepts an address only when it has exactly
// one local part and one domain that survive normalizing again.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Ann@Acme.COM", " mailto:bob@x.io?subject=hi ", `"Eve" <eve@ex.org>;`, "a@b", "a@@b.com", "x@xn--bcher-kva.de",
		"ünï@bücher.de", "\"a b\"@c.com", "<>", "mailto:", "....", "a@b.com.", "\x00@\xff.com", "A@B.C;,."} {
		f.Add(s)
	}
	checker := contact.NewChecker()
	f.Fuzz(func(t *testing.T, s string) {
		n := contact.NormalizeEmail(s)
		if again := contact.NormalizeEmail(n); again != n {
			t.Fatalf("NormalizeEmail not idempotent: %q -> %q -> %q", s, n, again)
		}
		if utf8.ValidString(n) && strings.ToLower(n) != n {
			t.Fatalf("NormalizeEmail(%q) = %q is not lower case", s, n)
		}
		c := checker.Check(n)
		if c.Valid {
			if strings.Count(n, "@") < 1 || c.Reason != "" || c.Domain == "" {
				t.Fatalf("Check(%q) valid with reason %q, domain %q", n, c.Reason, c.Domain)
			}
			if !utf8.ValidString(n) {
				t.Fatalf("Check(%q) accepts invalid UTF-8", n)
			}
		} else if c.Reason == "" {
			t.Fatalf("Check(%q) invalid without a reason", n)
		}
	})
}

// FuzzMapHeader checks that any header maps without panicking, to one
// field per column, each field (but "") on one column at most, and that
// the mapping ignores case and surrounding spaces of the names.
func FuzzMapHeader(f *testing.F) {
	for _, s := range []string{"Email,First Name,Last Name,Company", "E-Mail Address;Vorname;Firma", "id,email,email,EMAIL", "", ",,,", "Kontakt\tName\tFirma",
		"Work Email|Person Linkedin Url|Company Domain", "\ufeffemail,website", "phone,title,full name,linkedin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		header := strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' || r == '\t' || r == '|' })
		m, err := contact.MapHeader(header, nil)
		if err != nil {
			return
		}
		if len(m) != len(header) {
			t.Fatalf("MapHeader(%q) gives %d fields for %d columns", header, len(m), len(header))
		}
		seen := map[contact.Field]bool{}
		for _, fld := range m {
			if fld == "" {
				continue
			}
			if seen[fld] {
				t.Fatalf("MapHeader(%q) maps %s twice: %v", header, fld, m)
			}
			seen[fld] = true
		}
		upper := make([]string, len(header))
		for i, h := range header {
			upper[i] = "  " + strings.ToUpper(h) + " "
		}
		if !utf8.ValidString(line) || strings.ToLower(strings.ToUpper(line)) != strings.ToLower(line) {
			return // case folding is not reversible for this text
		}
		m2, err := contact.MapHeader(upper, nil)
		if err != nil {
			t.Fatalf("MapHeader(%q) fails (%v) where MapHeader(%q) did not", upper, err, header)
		}
		for i := range m {
			if m[i] != m2[i] {
				t.Fatalf("case or spaces change the mapping: %q -> %v, %q -> %v", header, m, upper, m2)
			}
		}
	})
}
