package contact_test

import (
	"testing"

	"github.com/contactbatch/batch/contact"
)

var benchEmails = []string{
	"jane.doe@acme.com",
	"info@gmail.com",
	"x@sub.mailinator.com",
	"jürgen@bücher.de",
	"not-an-email",
	`"quoted"@acme.com`,
	"j.smith+crm@mail.example.co.uk",
	"sales@a.b.33mail.com",
}

func BenchmarkCheck(b *testing.B) {
	ck := contact.NewChecker()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ck.Check(benchEmails[i%len(benchEmails)])
	}
}

func BenchmarkNormalize(b *testing.B) {
	ck := contact.NewChecker()
	in := contact.Contact{
		Email: "  Jane.Doe@ACME.com ", FirstName: " Jane ", LastName: "Doe", FullName: "Jane  Doe",
		Title: "VP Sales", Company: "Acme, Inc.", Website: "http://www.Acme.com/about",
		LinkedInURL: "linkedin.com/in/Jane-Doe/?trk=x", CompanyLinkedInURL: "uk.linkedin.com/company/acme",
		Phone: "+1 555 010 0000",
	}
	b.ReportAllocs()
	for b.Loop() {
		contact.Normalize(in, ck.NotCompany)
	}
}

func BenchmarkNormalizeEmailOnly(b *testing.B) {
	ck := contact.NewChecker()
	in := contact.Contact{Email: "  Jane.Doe@ACME.com "}
	b.ReportAllocs()
	for b.Loop() {
		contact.Normalize(in, ck.NotCompany)
	}
}

func BenchmarkNewChecker(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		contact.NewChecker()
	}
}
