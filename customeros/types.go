package customeros

import (
	"encoding/json"
	"time"
)

// Endpoint names one API operation. It keys the Pacer, Stats and APIError.
type Endpoint string

// The endpoints the client calls.
const (
	EndpointVerify       Endpoint = "verify"        // GET /verify/v1/email
	EndpointPerson       Endpoint = "person"        // GET /enrich/v1/person
	EndpointPersonPoll   Endpoint = "person_poll"   // GET /enrich/v1/person/results/{id}
	EndpointOrganization Endpoint = "organization"  // GET /enrich/v1/organization
	EndpointBulkSubmit   Endpoint = "bulk_submit"   // POST /verify/v1/email/bulk
	EndpointBulkStatus   Endpoint = "bulk_status"   // GET /verify/v1/email/bulk/results/{id}
	EndpointBulkDownload Endpoint = "bulk_download" // GET /verify/v1/email/bulk/results/{id}/download
)

// Endpoints lists every Endpoint, in a stable order.
func Endpoints() []Endpoint {
	return []Endpoint{EndpointVerify, EndpointPerson, EndpointPersonPoll, EndpointOrganization,
		EndpointBulkSubmit, EndpointBulkStatus, EndpointBulkDownload}
}

// Verdict is the normalized outcome of an email verification (see the
// package documentation for the mapping).
type Verdict string

// The normalized verdicts.
const (
	Deliverable   Verdict = "deliverable"
	Risky         Verdict = "risky"
	Undeliverable Verdict = "undeliverable"
	CatchAll      Verdict = "catch_all"
	Unknown       Verdict = "unknown"
	Invalid       Verdict = "invalid"
)

// Risk reasons, recomputed by the client from the risk flags.
const (
	ReasonFreeProvider     = "free_provider"
	ReasonRole             = "role"
	ReasonSystemGenerated  = "system_generated"
	ReasonFirewalled       = "firewalled"
	ReasonMailboxFull      = "mailbox_full"
	ReasonNotPrimaryDomain = "not_primary_domain"
)

// Risk holds the server's risk flags for one address.
type Risk struct {
	IsFirewalled      bool `json:"is_firewalled,omitempty"`
	IsRoleMailbox     bool `json:"is_role_mailbox,omitempty"`
	IsSystemGenerated bool `json:"is_system_generated,omitempty"`
	IsFreeProvider    bool `json:"is_free_provider,omitempty"`
	IsMailboxFull     bool `json:"is_mailbox_full,omitempty"`
	IsPrimaryDomain   bool `json:"is_primary_domain,omitempty"`
}

// Syntax holds the server's syntax check of one address.
type Syntax struct {
	IsValid bool   `json:"is_valid,omitempty"`
	User    string `json:"user,omitempty"`
	Domain  string `json:"domain,omitempty"`
}

// BulkDetails holds the columns of the bulk CSV that have no counterpart in
// the single-verify response. It is nil for single verifications.
type BulkDetails struct {
	CleanEmail        string `json:"clean_email,omitempty"`
	CanConnectSMTP    bool   `json:"can_connect_smtp,omitempty"`
	HasMXRecord       bool   `json:"has_mx_record,omitempty"`
	HasSPFRecord      bool   `json:"has_spf_record,omitempty"`
	DomainTLSRequired bool   `json:"domain_tls_required,omitempty"` // first TLSRequired column
	PrimaryDomain     string `json:"primary_domain,omitempty"`
	SkippedValidation bool   `json:"skipped_validation,omitempty"`
	SMTPSuccess       bool   `json:"smtp_success,omitempty"`
	RetryValidation   bool   `json:"retry_validation,omitempty"`
	TLSRequired       bool   `json:"tls_required,omitempty"` // second TLSRequired column
}

// Verification is the decoded result of verifying one address, from the
// single endpoint (either server generation) or a bulk CSV row.
type Verification struct {
	// Email is the address as the server echoed it (not normalized).
	Email string `json:"email"`
	// Verdict is the normalized verdict; see the package documentation.
	Verdict Verdict `json:"verdict"`
	// Reasons are recomputed from Risk (in the order of the Reason*
	// constants); empty when the syntax is invalid.
	Reasons []string `json:"reasons,omitempty"`
	// Deliverable is the raw tri-state: "true", "false", "unknown" or "".
	Deliverable string `json:"deliverable,omitempty"`
	IsCatchAll  bool   `json:"is_catch_all,omitempty"`
	// IsRisky is recomputed by the client: len(Reasons) > 0. The server's own
	// flag (absent in bulk results) is kept in ReportedRisky.
	IsRisky               bool         `json:"is_risky,omitempty"`
	ReportedRisky         *bool        `json:"reported_risky,omitempty"`
	Provider              string       `json:"provider,omitempty"`
	SecureGatewayProvider string       `json:"secure_gateway_provider,omitempty"`
	AlternateEmail        string       `json:"alternate_email,omitempty"`
	Risk                  Risk         `json:"risk,omitzero"`
	Syntax                Syntax       `json:"syntax,omitzero"`
	Bulk                  *BulkDetails `json:"bulk,omitempty"`
	// RequestID is the server's requestId (current generation only).
	RequestID string `json:"request_id,omitempty"`
	// Raw is the raw per-address body (single) or a JSON object of the CSV
	// row (bulk; the duplicated TLSRequired column appears as TLSRequired
	// and TLSRequired#2).
	Raw json.RawMessage `json:"-"`
}

// PersonQuery selects a person to enrich: Email or LinkedInURL is required.
type PersonQuery struct {
	Email         string
	LinkedInURL   string
	FirstName     string
	LastName      string
	IncludeMobile bool
}

// OrganizationQuery selects an organization: Domain or LinkedInURL is required.
type OrganizationQuery struct {
	Domain      string
	LinkedInURL string
}

// PersonResult is the outcome of EnrichPerson or PollPerson.
type PersonResult struct {
	// Found is false for the server's "Person not found" warning.
	Found bool `json:"found"`
	// Complete is false while the server is still looking for email/phone
	// (HTTP 202); poll ResultURL with PollPerson.
	Complete      bool     `json:"complete,omitempty"`
	ResultURL     string   `json:"result_url,omitempty"`
	PendingFields []string `json:"pending_fields,omitempty"`
	// Person is present when Found (partial when !Complete).
	Person    *Person `json:"person,omitempty"`
	Message   string  `json:"message,omitempty"`
	RequestID string  `json:"request_id,omitempty"`
	// Raw is the raw response body.
	Raw json.RawMessage `json:"-"`
}

// Person is an enriched person.
type Person struct {
	FirstName          string `json:"first_name,omitempty"`
	LastName           string `json:"last_name,omitempty"`
	FullName           string `json:"full_name,omitempty"`
	Title              string `json:"title,omitempty"`   // of the current job (else the first)
	Company            string `json:"company,omitempty"` // of the current job (else the first)
	CompanyWebsite     string `json:"company_website,omitempty"`
	CompanyLinkedInURL string `json:"company_linkedin_url,omitempty"`
	LinkedInURL        string `json:"linkedin_url,omitempty"`
	// Location joins city, region and country with ", " (in practice only
	// the region, LinkedIn's free-text location, is filled).
	Location   string        `json:"location,omitempty"`
	City       string        `json:"city,omitempty"`
	Region     string        `json:"region,omitempty"`
	Country    string        `json:"country,omitempty"`
	Timezone   string        `json:"timezone,omitempty"`
	ProfilePic string        `json:"profile_pic,omitempty"`
	Emails     []PersonEmail `json:"emails,omitempty"`
	// Phones are the phone numbers as the server formats them (the server's
	// type is always "mobile" and is not kept).
	Phones            []string `json:"phones,omitempty"`
	Jobs              []Job    `json:"jobs,omitempty"`
	LinkedInID        string   `json:"linkedin_id,omitempty"`
	LinkedInPublicID  string   `json:"linkedin_public_id,omitempty"`
	LinkedInFollowers int      `json:"linkedin_followers,omitempty"`
	XHandle           string   `json:"x_handle,omitempty"`
	XURL              string   `json:"x_url,omitempty"`
	GitHubUsername    string   `json:"github_username,omitempty"`
	GitHubURL         string   `json:"github_url,omitempty"`
	DiscordUsername   string   `json:"discord_username,omitempty"`
}

// PersonEmail is one address found for a person, as verified by the server.
type PersonEmail struct {
	Address string `json:"address"`
	// Deliverable is "true", "false", "unknown" or "" (not verified).
	Deliverable string `json:"deliverable,omitempty"`
	// Type is "work" or "personal" ("professional" in mid-2024 servers).
	Type    string `json:"type,omitempty"`
	IsRisky *bool  `json:"is_risky,omitempty"`
}

// Job is one position in a person's employment history.
type Job struct {
	Title              string `json:"title,omitempty"`
	Company            string `json:"company,omitempty"`
	CompanyLinkedInURL string `json:"company_linkedin_url,omitempty"`
	CompanyWebsite     string `json:"company_website,omitempty"`
	Seniority          string `json:"seniority,omitempty"`
	IsCurrent          bool   `json:"is_current,omitempty"`
	StartMonth         int    `json:"start_month,omitempty"`
	StartYear          int    `json:"start_year,omitempty"`
	EndMonth           int    `json:"end_month,omitempty"`
	EndYear            int    `json:"end_year,omitempty"`
}

// OrganizationResult is the outcome of EnrichOrganization.
type OrganizationResult struct {
	// Found is false for the server's "Organization not found" warning.
	Found        bool          `json:"found"`
	Organization *Organization `json:"organization,omitempty"`
	Message      string        `json:"message,omitempty"`
	RequestID    string        `json:"request_id,omitempty"`
	// Raw is the raw response body.
	Raw json.RawMessage `json:"-"`
}

// Organization is an enriched company.
type Organization struct {
	Name            string `json:"name,omitempty"`
	Domain          string `json:"domain,omitempty"`
	Website         string `json:"website,omitempty"`
	Description     string `json:"description,omitempty"`
	LongDescription string `json:"long_description,omitempty"`
	Industry        string `json:"industry,omitempty"`
	Employees       int    `json:"employees,omitempty"`
	FoundedYear     int    `json:"founded_year,omitempty"`
	Public          bool   `json:"public,omitempty"`
	Country         string `json:"country,omitempty"`
	CountryCode     string `json:"country_code,omitempty"`
	Region          string `json:"region,omitempty"`
	City            string `json:"city,omitempty"`
	PostalCode      string `json:"postal_code,omitempty"`
	AddressLine1    string `json:"address_line1,omitempty"`
	AddressLine2    string `json:"address_line2,omitempty"`
	IsHeadquarter   bool   `json:"is_headquarter,omitempty"`
	// LinkedInURL is the first linkedin.com entry of Socials.
	LinkedInURL string   `json:"linkedin_url,omitempty"`
	Socials     []string `json:"socials,omitempty"`
	Logos       []string `json:"logos,omitempty"`
	Icons       []string `json:"icons,omitempty"`
}

// BulkJob is an accepted bulk verification upload.
type BulkJob struct {
	// ID is the job id (UUID on legacy servers, "api_…" on current ones);
	// keep it secret: the status endpoint does not check the tenant.
	ID                  string    `json:"id"`
	ResultURL           string    `json:"result_url,omitempty"`
	EstimatedCompletion time.Time `json:"estimated_completion,omitzero"`
	Message             string    `json:"message,omitempty"`
}

// BulkStatus is the progress of a bulk job.
type BulkStatus struct {
	JobID               string    `json:"job_id"`
	Completed           bool      `json:"completed,omitempty"`
	EstimatedCompletion time.Time `json:"estimated_completion,omitzero"`
	DownloadURL         string    `json:"download_url,omitempty"`
	FileName            string    `json:"file_name,omitempty"`
	Message             string    `json:"message,omitempty"`
	Total               int       `json:"total,omitempty"`
	Deliverable         int       `json:"deliverable,omitempty"`
	// Undeliverable counts every record that is not deliverable, unknown and
	// catch-all included (server behaviour).
	Undeliverable int `json:"undeliverable,omitempty"`
}

// numEndpoints is len(Endpoints()).
const numEndpoints = 7

// endpointIndex is ep's position in Endpoints(), or -1.
func endpointIndex(ep Endpoint) int {
	switch ep {
	case EndpointVerify:
		return 0
	case EndpointPerson:
		return 1
	case EndpointPersonPoll:
		return 2
	case EndpointOrganization:
		return 3
	case EndpointBulkSubmit:
		return 4
	case EndpointBulkStatus:
		return 5
	case EndpointBulkDownload:
		return 6
	}
	return -1
}
