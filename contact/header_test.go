package contact_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/contactbatch/batch/contact"
	"github.com/google/go-cmp/cmp"
)

func TestMapHeader(t *testing.T) {
	const (
		E  = contact.FieldEmail
		FN = contact.FieldFirstName
		LN = contact.FieldLastName
		N  = contact.FieldFullName
		T  = contact.FieldTitle
		C  = contact.FieldCompany
		W  = contact.FieldWebsite
		D  = contact.FieldDomain
		L  = contact.FieldLinkedInURL
		CL = contact.FieldCompanyLinkedInURL
		P  = contact.FieldPhone
	)
	tests := []struct {
		name      string
		header    []string
		overrides map[string]string
		want      contact.Mapping
	}{
		{
			name:   "canonical names",
			header: []string{"email", "first_name", "last_name", "full_name", "title", "company", "website", "domain", "linkedin_url", "company_linkedin_url", "phone"},
			want:   contact.Mapping{E, FN, LN, N, T, C, W, D, L, CL, P},
		},
		{
			name:   "hubspot contacts export",
			header: []string{"Record ID", "First Name", "Last Name", "Email", "Phone Number", "Job Title", "Company Name", "Website URL", "Contact owner", "Lifecycle Stage", "Create Date"},
			want:   contact.Mapping{"", FN, LN, E, P, T, C, W, "", "", ""},
		},
		{
			name:   "salesforce contacts report",
			header: []string{"Contact ID", "Salutation", "First Name", "Last Name", "Title", "Account Name", "Email", "Phone", "Mobile", "Mailing Street", "Lead Source"},
			want:   contact.Mapping{"", "", FN, LN, T, C, E, P, "", "", ""},
		},
		{
			name: "apollo export",
			header: []string{"First Name", "Last Name", "Title", "Company", "Company Name for Emails", "Email", "Email Status",
				"Seniority", "Departments", "Work Direct Phone", "Mobile Phone", "Corporate Phone", "Person Linkedin Url",
				"Website", "Company Linkedin Url", "Facebook Url", "City", "Apollo Contact Id"},
			want: contact.Mapping{FN, LN, T, C, "", E, "", "", "", P, "", "", L, W, CL, "", "", ""},
		},
		{
			name:   "sales navigator export",
			header: []string{"First Name", "Last Name", "Current Title", "Current Company", "Profile URL", "Company Domain", "Location"},
			want:   contact.Mapping{FN, LN, T, C, L, D, ""},
		},
		{
			name:   "linkedin connections export",
			header: []string{"First Name", "Last Name", "URL", "Email Address", "Company", "Position", "Connected On"},
			want:   contact.Mapping{FN, LN, W, E, C, T, ""},
		},
		{
			name:   "mailchimp audience export",
			header: []string{"Email Address", "First Name", "Last Name", "Address", "Phone Number", "Birthday", "MEMBER_RATING", "OPTIN_TIME", "TAGS"},
			want:   contact.Mapping{E, FN, LN, "", P, "", "", "", ""},
		},
		{
			name:   "pipedrive export",
			header: []string{"Person - Name", "Person - Email - Work", "Organization - Name", "Person - Phone"},
			want:   contact.Mapping{N, E, C, P},
		},
		{
			name:   "spelling variants",
			header: []string{"E-mail", "GIVEN NAME", "surname", "Organisation", "company_domain", "LinkedIn Profile", "Company LinkedIn"},
			want:   contact.Mapping{E, FN, LN, C, D, L, CL},
		},
		{
			name:   "email variants",
			header: []string{"E-mail Address"},
			want:   contact.Mapping{E},
		},
		{
			name:   "more email variants",
			header: []string{"email_address", "Work Email", "Business Email", "Primary Email"},
			want:   contact.Mapping{E, "", "", ""},
		},
		{
			name:   "byte order mark on first column",
			header: []string{"\ufeffEmail", "Name"},
			want:   contact.Mapping{E, N},
		},
		{
			name:   "byte order mark on quoted first column",
			header: []string{"\ufeff\"E-Mail Address\"", "Family Name"},
			want:   contact.Mapping{E, LN},
		},
		{
			name:   "first column wins",
			header: []string{"Work Email", "Email", "Website", "URL", "Domain"},
			want:   contact.Mapping{E, "", W, "", D},
		},
		{
			name:   "empty and unknown columns",
			header: []string{"", "Notes", "Email", "  "},
			want:   contact.Mapping{"", "", E, ""},
		},
		{
			name:   "company alone is enough",
			header: []string{"Organization", "Notes"},
			want:   contact.Mapping{C, ""},
		},
		{
			name:      "override picks the column for a field",
			header:    []string{"Email", "Work Email"},
			overrides: map[string]string{"work email": "email"},
			want:      contact.Mapping{"", E},
		},
		{
			name:      "override ignores a column",
			header:    []string{"Email", "URL", "Company Website"},
			overrides: map[string]string{"url": "-"},
			want:      contact.Mapping{E, "", W},
		},
		{
			name:      "override maps an unknown column, field names folded",
			header:    []string{"Contact", "Profile"},
			overrides: map[string]string{"CONTACT": "Email", "profile": "LinkedIn URL"},
			want:      contact.Mapping{E, L},
		},
		{
			name:      "override column name matched punctuation-insensitively, BOM too",
			header:    []string{"\ufeffE-Mail (Work)", "Mail"},
			overrides: map[string]string{"e_mail work": "email", "mail": "-"},
			want:      contact.Mapping{E, ""},
		},
		{
			name:      "override applies to every column of that name",
			header:    []string{"Email", "x", "X"},
			overrides: map[string]string{"x": "-"},
			want:      contact.Mapping{E, "", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := contact.MapHeader(tt.header, tt.overrides)
			if err != nil {
				t.Fatalf("MapHeader(%q, %v) error: %v", tt.header, tt.overrides, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("MapHeader(%q, %v) mismatch (-want +got):\n%s", tt.header, tt.overrides, diff)
			}
		})
	}
}

func TestMapHeaderErrors(t *testing.T) {
	tests := []struct {
		name      string
		header    []string
		overrides map[string]string
		unmapped  bool     // error wraps ErrUnmapped
		contains  []string // substrings of the message
	}{
		{
			name:     "nothing usable",
			header:   []string{"First Name", "Last Name", "Phone"},
			unmapped: true,
			contains: []string{`"First Name"`, `"Phone"`},
		},
		{
			name:     "empty header",
			header:   nil,
			unmapped: true,
		},
		{
			name:      "usable column ignored by override",
			header:    []string{"Email", "Name"},
			overrides: map[string]string{"email": "-"},
			unmapped:  true,
		},
		{
			name:      "unknown field",
			header:    []string{"Email", "Cell"},
			overrides: map[string]string{"Cell": "mobile"},
			contains:  []string{`"Cell"`, `unknown field "mobile"`},
		},
		{
			name:      "missing column",
			header:    []string{"Email"},
			overrides: map[string]string{"Work Email": "email"},
			contains:  []string{`"Work Email"`, "no such column"},
		},
		{
			name:      "one field overridden onto two columns",
			header:    []string{"a", "b"},
			overrides: map[string]string{"a": "email", "b": "email"},
			contains:  []string{"already overridden"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := contact.MapHeader(tt.header, tt.overrides)
			if err == nil {
				t.Fatalf("MapHeader(%q, %v) = %v, want error", tt.header, tt.overrides, got)
			}
			if errors.Is(err, contact.ErrUnmapped) != tt.unmapped {
				t.Errorf("errors.Is(%v, ErrUnmapped) = %v, want %v", err, !tt.unmapped, tt.unmapped)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestParseField(t *testing.T) {
	for _, f := range contact.Fields() {
		if got, ok := contact.ParseField(string(f)); !ok || got != f {
			t.Errorf("ParseField(%q) = %q, %v, want %q, true", f, got, ok, f)
		}
	}
	if got, ok := contact.ParseField("Company LinkedIn URL"); !ok || got != contact.FieldCompanyLinkedInURL {
		t.Errorf("ParseField(Company LinkedIn URL) = %q, %v", got, ok)
	}
	if got, ok := contact.ParseField("mobile"); ok {
		t.Errorf("ParseField(mobile) = %q, true, want false", got)
	}
}

// TestMapHeaderEuropeanAndCRMAliases is the alias table of European
// spreadsheet and CRM exports: each column name maps to its field.
func TestMapHeaderEuropeanAndCRMAliases(t *testing.T) {
	tests := []struct {
		column string
		want   contact.Field
	}{
		{"E-Mail", contact.FieldEmail},
		{"E-Mail-Adresse", contact.FieldEmail},
		{"Courriel", contact.FieldEmail},
		{"Adresse e-mail", contact.FieldEmail},
		{"Adresse électronique", ""},
		{"Correo electrónico", contact.FieldEmail},
		{"Dirección de correo electrónico", contact.FieldEmail},
		{"Vorname", contact.FieldFirstName},
		{"Nachname", contact.FieldLastName},
		{"Prénom", contact.FieldFirstName},
		{"Nom", contact.FieldLastName},
		{"Nom de famille", contact.FieldLastName},
		{"Nombre", contact.FieldFirstName},
		{"Apellidos", contact.FieldLastName},
		{"Firma", contact.FieldCompany},
		{"Société", contact.FieldCompany},
		{"Empresa", contact.FieldCompany},
		{"Unternehmen", contact.FieldCompany},
		{"Nom de l'entreprise", contact.FieldCompany},
		{"Webseite", contact.FieldWebsite},
		{"Site web", contact.FieldWebsite},
		{"Sitio web", contact.FieldWebsite},
		{"LinkedIn-Profil", contact.FieldLinkedInURL},
		{"Profil LinkedIn", contact.FieldLinkedInURL},
		{"Telefonnummer", contact.FieldPhone},
		{"Téléphone", contact.FieldPhone},
		{"Teléfono", contact.FieldPhone},
		{"Position", contact.FieldTitle},
		{"Poste", contact.FieldTitle},
		{"Cargo", contact.FieldTitle},
		{"Domaine", contact.FieldDomain},
		// HubSpot contact and company exports.
		{"Email", contact.FieldEmail},
		{"First Name", contact.FieldFirstName},
		{"Last Name", contact.FieldLastName},
		{"Company Name", contact.FieldCompany},
		{"Associated Company", contact.FieldCompany},
		{"Website URL", contact.FieldWebsite},
		{"Company Domain Name", contact.FieldDomain},
		{"LinkedIn Company Page", contact.FieldCompanyLinkedInURL},
		{"Phone Number", contact.FieldPhone},
		{"Mobile Phone Number", contact.FieldPhone},
		{"Job Title", contact.FieldTitle},
		// Salesforce reports and API names.
		{"Account Name", contact.FieldCompany},
		{"Company / Account", contact.FieldCompany},
		{"Account.Name", contact.FieldCompany},
		{"FirstName", contact.FieldFirstName},
		{"LastName", contact.FieldLastName},
		{"MobilePhone", contact.FieldPhone},
		{"Title", contact.FieldTitle},
		{"Website", contact.FieldWebsite},
		{"Lead Source", ""},
		{"Email Status", ""},
	}
	for _, tt := range tests {
		t.Run(tt.column, func(t *testing.T) {
			// A second column keeps the header mappable whatever the first is.
			other := "email"
			if tt.want == contact.FieldEmail {
				other = "domain"
			}
			header := []string{tt.column, other}
			m, err := contact.MapHeader(header, nil)
			if err != nil {
				t.Fatalf("MapHeader(%q) error = %v", header, err)
			}
			if m[0] != tt.want {
				t.Errorf("%q maps to %q, want %q", tt.column, m[0], tt.want)
			}
		})
	}
}
