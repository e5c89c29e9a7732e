package contact

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ErrUnmapped reports a header in which no column maps to a field a paid call
// can be made with: email, linkedin_url, company_linkedin_url, domain,
// website or company.
var ErrUnmapped = errors.New("no column maps to email, linkedin_url or domain/website/company")

// Ignore is the override value that maps a column to no field.
const Ignore = "-"

// Fields lists every canonical field, in Contact's field order.
func Fields() []Field {
	return []Field{
		FieldEmail, FieldFirstName, FieldLastName, FieldFullName, FieldTitle,
		FieldCompany, FieldWebsite, FieldDomain, FieldLinkedInURL,
		FieldCompanyLinkedInURL, FieldPhone,
	}
}

// ParseField returns the canonical field named s, matched case- and
// punctuation-insensitively ("LinkedIn URL" and "linkedin_url" both name
// FieldLinkedInURL). It reports false for anything else.
func ParseField(s string) (Field, bool) {
	k := headerKey(s)
	for _, f := range Fields() {
		if headerKey(string(f)) == k {
			return f, true
		}
	}
	return "", false
}

// MapHeader maps input column names to fields. overrides maps an input column name
// (matched case/punctuation-insensitively) to a field name or "-" (ignore column).
//
// Columns are otherwise matched against aliases used by common CRM and
// prospecting exports (HubSpot, Salesforce, Apollo, LinkedIn Sales Navigator,
// Mailchimp, Pipedrive...). Overridden columns take their field first; after
// that the first column mapping to a field wins and later ones map to "".
// An override naming a column absent from header, or a field that does not
// exist, is an error, as is one field overridden onto two columns. When no
// column maps to email, linkedin_url, company_linkedin_url, domain, website or
// company the error wraps ErrUnmapped.
func MapHeader(header []string, overrides map[string]string) (Mapping, error) {
	keys := make([]string, len(header))
	for i, h := range header {
		keys[i] = headerKey(h)
	}
	m := make(Mapping, len(header))
	overridden := make([]bool, len(header))
	taken := make(map[Field]int, len(Fields()))

	// Sorted override names give a deterministic error for a bad map.
	names := make([]string, 0, len(overrides))
	for name := range overrides {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		value := overrides[name]
		var f Field
		if strings.TrimSpace(value) != Ignore {
			var ok bool
			if f, ok = ParseField(value); !ok {
				return nil, fmt.Errorf("override %q: unknown field %q (want one of %s or %q)", name, value, fieldList(), Ignore)
			}
		}
		k := headerKey(name)
		found := false
		for i, ck := range keys {
			if ck != k || k == "" {
				continue
			}
			found = true
			overridden[i] = true
			if f == "" {
				continue
			}
			if j, dup := taken[f]; dup {
				if j == i {
					continue
				}
				return nil, fmt.Errorf("override %q: field %s already overridden onto column %q", name, f, header[j])
			}
			taken[f] = i
			m[i] = f
		}
		if !found {
			return nil, fmt.Errorf("override %q: no such column in header %q", name, header)
		}
	}

	for i, k := range keys {
		if overridden[i] {
			continue
		}
		f := aliasField(k)
		if f == "" {
			continue
		}
		if _, dup := taken[f]; dup {
			continue
		}
		taken[f] = i
		m[i] = f
	}

	for _, f := range []Field{FieldEmail, FieldLinkedInURL, FieldCompanyLinkedInURL, FieldDomain, FieldWebsite, FieldCompany} {
		if _, ok := taken[f]; ok {
			return m, nil
		}
	}
	return nil, fmt.Errorf("header %q: %w; name the columns with overrides", header, ErrUnmapped)
}

// headerKey folds a column or field name for matching: letters and digits
// only, lower-cased, accents removed. A byte order mark, spaces, dashes,
// underscores, dots and brackets all disappear, so "E-mail Address",
// "email_address" and "\ufeffEmail Address" share one key, and "Prénom"
// and "Correo electrónico" match "prenom" and "correoelectronico".
func headerKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue // a combining accent
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func fieldList() string {
	fs := Fields()
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// aliasField gives the field a folded column name (see headerKey) stands for
// in real exports, or "" for a column that is not a contact field. Keep the
// aliases specific: "address", "email status", "company phone" and the like
// must not match.
func aliasField(key string) Field {
	switch key {
	case "email", "emails", "email1", "emailaddress", "emailaddress1", "mail", "mailaddress",
		"workemail", "workemailaddress", "emailwork", "businessemail", "businessemailaddress",
		"primaryemail", "primaryemailaddress", "emailprimary", "contactemail", "contactemailaddress",
		"personemail", "personemailwork", "leademail", "professionalemail", "corporateemail",
		"companyemail", "officeemail", "directemail", "verifiedemail", "emailid",
		"emailadresse", "correoelectronico", "courriel", "adressemail", "adresseemail",
		"adressecourriel", "mailadresse", "direcciondecorreo", "direcciondecorreoelectronico",
		"correo", "emailadres", "indirizzoemail", "posteelectronique":
		return FieldEmail
	case "firstname", "first", "fname", "givenname", "forename", "personfirstname",
		"contactfirstname", "leadfirstname", "vorname", "prenom", "nombre", "voornaam", "nome":
		return FieldFirstName
	case "lastname", "last", "lname", "surname", "familyname", "personlastname",
		"contactlastname", "leadlastname", "nachname", "nom", "apellido", "apellidos",
		"familienname", "nomdefamille", "achternaam", "cognome":
		return FieldLastName
	case "fullname", "name", "contactname", "personname", "leadname",
		"displayname", "contactfullname", "personfullname", "prospectname",
		"nomcomplet", "nombrecompleto", "vollstandigername":
		return FieldFullName
	case "jobtitle", "title", "position", "jobposition", "designation", "currenttitle",
		"currentjobtitle", "role", "jobrole", "persontitle", "contacttitle", "occupation",
		"positiontitle", "currentposition",
		"titel", "berufsbezeichnung", "funktion", "poste", "fonction", "intituledeposte", "cargo", "puesto":
		return FieldTitle
	case "company", "companyname", "organization", "organisation", "organizationname",
		"organisationname", "accountname", "account", "employer", "currentcompany",
		"currentcompanyname", "businessname", "companynameforemails", "firm", "firmname",
		"unternehmen", "firma", "empresa", "entreprise", "societe", "firmenname", "unternehmensname",
		"nomdelentreprise", "nomdelasociete", "raisonsociale", "nombredelaempresa", "associatedcompany",
		"companyaccount", "azienda", "bedrijf", "bedrijfsnaam":
		return FieldCompany
	case "website", "companywebsite", "url", "websiteurl", "web", "website1", "homepage",
		"companyurl", "companywebsiteurl", "site", "webpage", "corporatewebsite",
		"organizationwebsite", "organisationwebsite", "accountwebsite", "www",
		"webseite", "internetseite", "siteweb", "siteinternet", "sitioweb", "paginaweb", "sitoweb":
		return FieldWebsite
	case "domain", "companydomain", "companydomainname", "domainname", "websitedomain",
		"organizationdomain", "organisationdomain", "accountdomain", "primarydomain",
		"domaine", "dominio", "nomdedomaine":
		return FieldDomain
	case "linkedin", "linkedinurl", "linkedinprofile", "linkedinprofileurl", "personlinkedinurl",
		"personlinkedin", "linkedinlink", "linkedinprofilelink", "profileurl", "linkedinpublicurl",
		"linkedinpublicprofileurl", "contactlinkedinurl", "linkedinhandle", "linkedinpersonurl",
		"liurl", "liprofileurl", "linkedinprofil", "profillinkedin", "perfildelinkedin", "perfillinkedin",
		"linkedinprofilurl":
		return FieldLinkedInURL
	case "companylinkedin", "companylinkedinurl", "companylinkedinprofile", "companylinkedinpage",
		"organizationlinkedin", "organizationlinkedinurl", "organisationlinkedinurl",
		"accountlinkedin", "accountlinkedinurl", "linkedincompanyurl", "linkedincompanypage",
		"linkedincompany", "linkedincompanyprofile":
		return FieldCompanyLinkedInURL
	case "phone", "phonenumber", "mobile", "mobilephone", "mobilephonenumber", "mobilenumber",
		"cell", "cellphone", "cellphonenumber", "telephone", "telephonenumber", "tel", "workphone",
		"workdirectphone", "directphone", "directdial", "businessphone", "officephone",
		"primaryphone", "contactphone", "personphone", "phone1", "corporatephone", "telefon",
		"telefonnummer", "handy", "mobil", "mobiltelefon", "telephoneportable", "portable",
		"telefono", "movil", "numerodetelefono":
		return FieldPhone
	}
	return ""
}
