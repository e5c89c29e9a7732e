// Package contact maps input columns to contact fields, normalizes them and
// runs the local checks (syntax, free provider, role account, disposable
// domain) that decide whether a paid API call is worth making.
package contact

// Contact is one person's identifying fields as read from an input row.
// The csv tags are the canonical field names used by header mapping.
type Contact struct {
	Email              string `csv:"email"`
	FirstName          string `csv:"first_name"`
	LastName           string `csv:"last_name"`
	FullName           string `csv:"full_name"`
	Title              string `csv:"title"`
	Company            string `csv:"company"`
	Website            string `csv:"website"`
	Domain             string `csv:"domain"`
	LinkedInURL        string `csv:"linkedin_url"`
	CompanyLinkedInURL string `csv:"company_linkedin_url"`
	Phone              string `csv:"phone"`
}

// Field is a canonical contact field name (the csv tag of a Contact field).
type Field string

// Canonical fields.
const (
	FieldEmail              Field = "email"
	FieldFirstName          Field = "first_name"
	FieldLastName           Field = "last_name"
	FieldFullName           Field = "full_name"
	FieldTitle              Field = "title"
	FieldCompany            Field = "company"
	FieldWebsite            Field = "website"
	FieldDomain             Field = "domain"
	FieldLinkedInURL        Field = "linkedin_url"
	FieldCompanyLinkedInURL Field = "company_linkedin_url"
	FieldPhone              Field = "phone"
)

// Mapping gives the canonical field of each input column, by column index;
// "" marks a column that maps to no field. At most one column maps to each
// field.
type Mapping []Field

// Ptr returns c's field named f, or nil for an unknown name.
func (c *Contact) Ptr(f Field) *string {
	switch f {
	case FieldEmail:
		return &c.Email
	case FieldFirstName:
		return &c.FirstName
	case FieldLastName:
		return &c.LastName
	case FieldFullName:
		return &c.FullName
	case FieldTitle:
		return &c.Title
	case FieldCompany:
		return &c.Company
	case FieldWebsite:
		return &c.Website
	case FieldDomain:
		return &c.Domain
	case FieldLinkedInURL:
		return &c.LinkedInURL
	case FieldCompanyLinkedInURL:
		return &c.CompanyLinkedInURL
	case FieldPhone:
		return &c.Phone
	}
	return nil
}
