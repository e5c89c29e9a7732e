package redact

import (
	"strings"
	"testing"
)

func TestEmails(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"no address here":                   "no address here",
		"could not verify a@b.com":          "could not verify <email>",
		"A.B+tag@Sub.Example.CO.uk, x":      "<email>, x",
		"for John.Doe@acme.com.":            "for <email>.",
		"(USER9.P454@FIRM9.COM) and c@d.io": "(<email>) and <email>",
		"user@localhost":                    "user@localhost",
		"@acme.com":                         "@acme.com",
		"a@@b.com":                          "a@<email>"[:0] + "a@@b.com",
		"x@y.z@w.v":                         "<email>@w.v",
		"müller@bücher.de ok":               "<email> ok",
	} {
		if got := Emails(in); got != want {
			t.Errorf("Emails(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEmails(f *testing.F) {
	f.Add("could not verify a@b.com (A@B.COM)")
	f.Fuzz(func(t *testing.T, s string) {
		got := Emails(s)
		if strings.Count(got, "@") > strings.Count(s, "@") {
			t.Fatalf("Emails(%q) = %q: more @ than before", s, got)
		}
		if Emails(got) != got {
			t.Fatalf("Emails not idempotent on %q: %q", s, got)
		}
	})
}
