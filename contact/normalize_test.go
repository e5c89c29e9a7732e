package contact_test

import (
	"testing"

	"github.com/contactbatch/batch/contact"
	"github.com/google/go-cmp/cmp"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"  Jane.Doe@ACME.com ", "jane.doe@acme.com"},
		{"mailto:x@y.com", "x@y.com"},
		{"MAILTO:X@Y.COM?subject=hello", "x@y.com"},
		{"<x@y.com>", "x@y.com"},
		{"mailto:<x@y.com>", "x@y.com"},
		{"<mailto:x@y.com>", "x@y.com"},
		{`"x@y.com"`, "x@y.com"},
		{"'x@y.com'", "x@y.com"},
		{`"<x@y.com>"`, "x@y.com"},
		{"Jane Doe <Jane@Acme.com>", "jane@acme.com"},
		{`"Doe, Jane" <jane@acme.com>`, "jane@acme.com"},
		{"jane@acme.com;", "jane@acme.com"},
		{"jane@acme.com.", "jane@acme.com"},
		{"\ufeff\u00a0jane@acme.com\u200b\t", "jane@acme.com"},
		{"Jürgen@Bücher.DE", "jürgen@bücher.de"},
		{`"john doe"@acme.com`, `"john doe"@acme.com`}, // quoted local part: left for Check to reject
		{"not an email", "not an email"},
	}
	for _, tt := range tests {
		if got := contact.NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeLinkedIn(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"https://www.linkedin.com/in/jane-doe", "https://www.linkedin.com/in/jane-doe"},
		{"linkedin.com/in/Jane-Doe/?trk=public_profile_browsemap", "https://www.linkedin.com/in/jane-doe"},
		{"  http://www.LinkedIn.com/in/Jane-Doe/  ", "https://www.linkedin.com/in/jane-doe"},
		{"uk.linkedin.com/in/x", "https://www.linkedin.com/in/x"},
		{"https://de.linkedin.com/in/max-mustermann-1a2b3c4d/en", "https://www.linkedin.com/in/max-mustermann-1a2b3c4d"},
		{"https://m.linkedin.com/in/jane#experience", "https://www.linkedin.com/in/jane"},
		{"https://www.linkedin.com/mwlite/in/jane", "https://www.linkedin.com/in/jane"},
		{"//www.linkedin.com/in/jane", "https://www.linkedin.com/in/jane"},
		{"www.linkedin.com/in/jane?originalSubdomain=fr", "https://www.linkedin.com/in/jane"},
		{"https://www.linkedin.com/IN/Jane", "https://www.linkedin.com/in/jane"},
		{"https://www.linkedin.com/in/j%C3%B6rg-m%C3%BCller/", "https://www.linkedin.com/in/j%C3%B6rg-m%C3%BCller"},
		{"https://www.linkedin.com/in/Jörg-Müller", "https://www.linkedin.com/in/j%C3%B6rg-m%C3%BCller"},
		{"https://www.linkedin.com/company/Acme-Corp/about/", "https://www.linkedin.com/company/acme-corp"},
		{"linkedin.com/company/1234567", "https://www.linkedin.com/company/1234567"},
		{"https://fr.linkedin.com/school/hec-paris/", "https://www.linkedin.com/school/hec-paris"},
		{"https://www.linkedin.com/showcase/acme-cloud", "https://www.linkedin.com/showcase/acme-cloud"},
		{"http://www.linkedin.com/pub/Jane-Doe/1a/2b3/4c5", "https://www.linkedin.com/pub/jane-doe/1a/2b3/4c5"},
		{"https://www.linkedin.com/in/ACwAAAB1cDEBx2yZ3QrStUvWxYz0123456789AB", "https://www.linkedin.com/in/ACwAAAB1cDEBx2yZ3QrStUvWxYz0123456789AB"},
		{"https://www.linkedin.com/sales/lead/ACwAAAB1cDE,NAME_SEARCH,abcd?_ntb=x", "https://www.linkedin.com/sales/lead/ACwAAAB1cDE%2CNAME_SEARCH%2Cabcd"},
		{"https://www.linkedin.com/", ""},
		{"https://www.linkedin.com/in/", ""},
		{"https://www.linkedin.com/feed/", ""},
		{"https://www.linkedin.com/jobs/view/123", ""},
		{"https://notlinkedin.com/in/jane", ""},
		{"https://linkedin.com.evil.example/in/jane", ""},
		{"ftp://www.linkedin.com/in/jane", ""},
		{"jane-doe", ""},
		{"n/a", ""},
	}
	for _, tt := range tests {
		if got := contact.NormalizeLinkedIn(tt.in); got != tt.want {
			t.Errorf("NormalizeLinkedIn(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeDomainAndWebsite(t *testing.T) {
	tests := []struct{ in, domain, website string }{
		{"", "", ""},
		{"acme.com", "acme.com", "https://acme.com"},
		{"  ACME.COM  ", "acme.com", "https://acme.com"},
		{"http://www.Acme.com/about", "acme.com", "https://www.acme.com"},
		{"https://www.acme.co.uk:8443/path?q=1#top", "acme.co.uk", "https://www.acme.co.uk"},
		{"www.acme.com", "acme.com", "https://www.acme.com"},
		{"acme.com.", "acme.com", "https://acme.com"},
		{"https://user:pass@shop.acme.com/", "shop.acme.com", "https://shop.acme.com"},
		{"jane@acme.com", "acme.com", "https://acme.com"},
		{"acme.com, acme.de", "acme.com", "https://acme.com"},
		{"Bücher.example", "xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"http://www.bücher.de/shop", "xn--bcher-kva.de", "https://www.xn--bcher-kva.de"},
		{"xn--bcher-kva.de", "xn--bcher-kva.de", "https://xn--bcher-kva.de"},
		{"例え.テスト", "xn--r8jz45g.xn--zckzah", "https://xn--r8jz45g.xn--zckzah"},
		{"ＡＣＭＥ．ＣＯＭ", "acme.com", "https://acme.com"},
		{"www.com", "www.com", "https://www.com"},
		{"n/a", "", ""},
		{"-", "", ""},
		{"none", "", ""},
		{"localhost", "", ""},
		{"192.168.1.1", "", ""},
		{"http://[::1]/", "", ""},
		{"acme..com", "", ""},
		{"-acme.com", "", ""},
		{"acme_corp.com", "", ""},
		{"mailto:x@y.com", "y.com", "https://y.com"},
	}
	for _, tt := range tests {
		if got := contact.NormalizeDomain(tt.in); got != tt.domain {
			t.Errorf("NormalizeDomain(%q) = %q, want %q", tt.in, got, tt.domain)
		}
		if got := contact.NormalizeWebsite(tt.in); got != tt.website {
			t.Errorf("NormalizeWebsite(%q) = %q, want %q", tt.in, got, tt.website)
		}
	}
}

func TestNormalize(t *testing.T) {
	free := func(d string) bool { return d == "gmail.com" }
	tests := []struct {
		name   string
		in     contact.Contact
		isFree func(string) bool
		want   contact.Contact
	}{
		{
			name: "every field trimmed and canonicalized",
			in: contact.Contact{
				Email: "  Jane.Doe@ACME.com ", FirstName: " Jane ", LastName: "Doe\u00a0", FullName: " Jane   Doe ",
				Title: "\tVP  Sales\n", Company: " Acme,  Inc. ", Website: "http://www.Acme.com/about",
				LinkedInURL: "linkedin.com/in/Jane-Doe/?trk=x", CompanyLinkedInURL: "https://uk.linkedin.com/company/acme/",
				Phone: " +1 (555) 010-0000 ",
			},
			isFree: free,
			want: contact.Contact{
				Email: "jane.doe@acme.com", FirstName: "Jane", LastName: "Doe", FullName: "Jane Doe",
				Title: "VP Sales", Company: "Acme, Inc.", Website: "https://www.acme.com", Domain: "acme.com",
				LinkedInURL: "https://www.linkedin.com/in/jane-doe", CompanyLinkedInURL: "https://www.linkedin.com/company/acme",
				Phone: "+1 (555) 010-0000",
			},
		},
		{
			name:   "domain field wins over website and email",
			in:     contact.Contact{Email: "jane@mail.acme.com", Website: "acme.io", Domain: "WWW.ACME.COM"},
			isFree: free,
			want:   contact.Contact{Email: "jane@mail.acme.com", Website: "https://acme.io", Domain: "acme.com"},
		},
		{
			name:   "domain from website",
			in:     contact.Contact{Email: "jane@acme.com", Website: "www.acme.io", Domain: "n/a"},
			isFree: free,
			want:   contact.Contact{Email: "jane@acme.com", Website: "https://www.acme.io", Domain: "acme.io"},
		},
		{
			name:   "domain from a company email",
			in:     contact.Contact{Email: "mailto:Jane@Bücher.DE"},
			isFree: free,
			want:   contact.Contact{Email: "jane@bücher.de", Domain: "xn--bcher-kva.de"},
		},
		{
			name:   "no domain from a free email",
			in:     contact.Contact{Email: "<jane.doe@GMAIL.com>"},
			isFree: free,
			want:   contact.Contact{Email: "jane.doe@gmail.com"},
		},
		{
			name:   "nil isFree takes any email domain",
			in:     contact.Contact{Email: "jane.doe@gmail.com"},
			isFree: nil,
			want:   contact.Contact{Email: "jane.doe@gmail.com", Domain: "gmail.com"},
		},
		{
			name:   "no domain from an invalid email",
			in:     contact.Contact{Email: "jane.doe"},
			isFree: free,
			want:   contact.Contact{Email: "jane.doe"},
		},
		{
			name:   "linkedin profile in the website column moves",
			in:     contact.Contact{Email: "jane@gmail.com", Website: "https://www.linkedin.com/in/jane-doe"},
			isFree: free,
			want:   contact.Contact{Email: "jane@gmail.com", LinkedInURL: "https://www.linkedin.com/in/jane-doe"},
		},
		{
			name:   "linkedin company page in the website column moves",
			in:     contact.Contact{Website: "linkedin.com/company/acme", LinkedInURL: "linkedin.com/in/jane"},
			isFree: free,
			want:   contact.Contact{LinkedInURL: "https://www.linkedin.com/in/jane", CompanyLinkedInURL: "https://www.linkedin.com/company/acme"},
		},
		{
			name:   "linkedin in website dropped when its field is taken",
			in:     contact.Contact{Website: "linkedin.com/in/other", LinkedInURL: "linkedin.com/in/jane", Domain: "acme.com"},
			isFree: free,
			want:   contact.Contact{LinkedInURL: "https://www.linkedin.com/in/jane", Domain: "acme.com"},
		},
		{
			name:   "company url in the person column moves",
			in:     contact.Contact{LinkedInURL: "linkedin.com/company/acme"},
			isFree: free,
			want:   contact.Contact{CompanyLinkedInURL: "https://www.linkedin.com/company/acme"},
		},
		{
			name:   "person url in the company column moves",
			in:     contact.Contact{CompanyLinkedInURL: "linkedin.com/in/jane"},
			isFree: free,
			want:   contact.Contact{LinkedInURL: "https://www.linkedin.com/in/jane"},
		},
		{
			name:   "garbage url fields emptied",
			in:     contact.Contact{Email: "jane@gmail.com", Website: "N/A", Domain: "-", LinkedInURL: "none", CompanyLinkedInURL: "https://acme.com"},
			isFree: free,
			want:   contact.Contact{Email: "jane@gmail.com"},
		},
		{
			name:   "empty contact",
			isFree: free,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := contact.Normalize(tt.in, tt.isFree)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Normalize(%+v) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if again := contact.Normalize(got, tt.isFree); again != got {
				t.Errorf("Normalize is not idempotent: %+v then %+v", got, again)
			}
		})
	}
}
