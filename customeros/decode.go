package customeros

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/contactbatch/batch/internal/redact"
)

// envelope holds the fields common to every JSON body, both generations.
type envelope struct {
	RequestID string `json:"requestId"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Error     string `json:"error"`
}

// isWarning reports whether a body has status "warning" (a "not found"
// lookup result).
func isWarning(body []byte) bool {
	var e envelope
	return json.Unmarshal(body, &e) == nil && strings.EqualFold(e.Status, "warning")
}

// errorMessage extracts a human message from any of the four error body
// shapes, including the auth middleware's {"errors":[{"message”":…}]}.
func errorMessage(body []byte) string {
	var e struct {
		envelope
		Errors []map[string]any `json:"errors"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Message != "":
			msg = e.Message
		case e.Error != "":
			msg = e.Error
		case len(e.Errors) > 0:
			for _, v := range e.Errors[0] {
				if s, ok := v.(string); ok {
					msg = s
					break
				}
			}
		}
	} else if !looksJSON(nil, body) && utf8.Valid(body) && !bytes.ContainsAny(body, "<") {
		msg = string(body) // plain-text gateway error
	}
	// A message may echo the contact's address; it goes to logs and to the
	// one-line cause of a stop, which must not carry it.
	msg = redact.Emails(strings.Join(strings.Fields(msg), " "))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// --- verify ---

type wireRisk struct {
	IsFirewalled      bool  `json:"isFirewalled"`
	IsRoleMailbox     bool  `json:"isRoleMailbox"`
	IsSystemGenerated bool  `json:"isSystemGenerated"`
	IsFreeProvider    bool  `json:"isFreeProvider"`
	IsMailboxFull     bool  `json:"isMailboxFull"`
	IsPrimaryDomain   *bool `json:"isPrimaryDomain"` // absent = primary
}

type wireSyntax struct {
	IsValid bool   `json:"isValid"`
	Domain  string `json:"domain"`
	User    string `json:"user"`
}

type wireVerifyRecord struct {
	EmailAddress          string     `json:"emailAddress"`
	Deliverable           string     `json:"deliverable"`
	Provider              string     `json:"provider"`
	SecureGatewayProvider string     `json:"secureGatewayProvider"`
	IsRisky               *bool      `json:"isRisky"`
	IsCatchAll            bool       `json:"isCatchAll"`
	Risk                  wireRisk   `json:"risk"`
	Syntax                wireSyntax `json:"syntax"`
	AlternateEmail        string     `json:"alternateEmail"`
}

// decodeVerification decodes a single-verify body of either generation:
// current {"email":{…},"requestId":…} or legacy flat {"email":"…",…},
// chosen by the value of "email". Keys match as encoding/json matches them
// (exactly or case-insensitively; a repeated key overwrites), and a value
// of the wrong type is an error only in the record the generation uses.
// Invalid JSON gives an error wrapping errTruncated (the client retries
// it); any other failure wraps ErrBadResponse. Raw is a copy: body may be
// a reused buffer.
func decodeVerification(body []byte) (*Verification, error) {
	// One pass reads the envelope, "email" as raw JSON and the legacy
	// generation's record from the top level.
	var top struct {
		envelope
		wireVerifyRecord
		Email jsontext.Value `json:"email"`
	}
	if err := unmarshalJSON(body, &top, "verify"); err != nil {
		if errors.Is(err, errTruncated) {
			return nil, err
		}
		// Decoding stopped at a type error, which may lie in a top-level
		// record field only the legacy generation uses: read the rest of
		// the body, the envelope and "email" alone.
		if !jsontext.Value(body).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) {
			return nil, fmt.Errorf("%w: verify: invalid JSON", errTruncated)
		}
		var env struct {
			envelope
			Email jsontext.Value `json:"email"`
		}
		if err := unmarshalJSON(body, &env, "verify"); err != nil {
			return nil, err
		}
		if !isObject(env.Email) {
			return nil, err // legacy: the error is in its record
		}
		top.envelope, top.Email = env.envelope, env.Email
	}
	rec, raw := &top.wireVerifyRecord, body
	if email := top.Email; isObject(email) { // current
		*rec, raw = wireVerifyRecord{}, email
		if err := unmarshalJSON(email, rec, "verify"); err != nil {
			return nil, err
		}
	} else if len(email) > 0 { // legacy flat: "email" is the address or null
		rec.EmailAddress = ""
		if err := unmarshalJSON(email, &rec.EmailAddress, "verify: email"); err != nil {
			return nil, err
		}
	}
	if rec.EmailAddress == "" && !rec.Syntax.IsValid && rec.Deliverable == "" && top.Status == "" {
		return nil, fmt.Errorf("%w: verify: no verification record in body", ErrBadResponse)
	}
	return rec.verification(top.RequestID, bytes.Clone(raw)), nil
}

func isObject(v jsontext.Value) bool { return len(v) > 0 && v[0] == '{' }

// unmarshalJSON decodes data into v as encoding/json matches and merges:
// names exactly or case-insensitively, a repeated name overwrites, null
// leaves a value other than a pointer as it is, invalid UTF-8 becomes
// U+FFFD. It stops at the first error; a syntax error there wraps
// errTruncated, any other ErrBadResponse (what names the value).
func unmarshalJSON(data []byte, v any, what string) error {
	err := jsonv2.Unmarshal(data, v,
		jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true),
		jsonv1.MergeWithLegacySemantics(true),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
		return fmt.Errorf("%w: %s: %v", errTruncated, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrBadResponse, what, err)
}

// verification is the normalized Verification of a decoded record.
func (rec *wireVerifyRecord) verification(requestID string, raw json.RawMessage) *Verification {
	primary := rec.Risk.IsPrimaryDomain == nil || *rec.Risk.IsPrimaryDomain
	v := &Verification{
		Email:                 rec.EmailAddress,
		Deliverable:           rec.Deliverable,
		IsCatchAll:            rec.IsCatchAll,
		ReportedRisky:         rec.IsRisky,
		Provider:              rec.Provider,
		SecureGatewayProvider: rec.SecureGatewayProvider,
		AlternateEmail:        rec.AlternateEmail,
		Risk: Risk{IsFirewalled: rec.Risk.IsFirewalled, IsRoleMailbox: rec.Risk.IsRoleMailbox,
			IsSystemGenerated: rec.Risk.IsSystemGenerated, IsFreeProvider: rec.Risk.IsFreeProvider,
			IsMailboxFull: rec.Risk.IsMailboxFull, IsPrimaryDomain: primary},
		Syntax:    Syntax{IsValid: rec.Syntax.IsValid, User: rec.Syntax.User, Domain: rec.Syntax.Domain},
		RequestID: requestID,
		Raw:       raw,
	}
	v.normalize()
	return v
}

// normalize computes Reasons, IsRisky and Verdict from the raw fields.
func (v *Verification) normalize() {
	v.Reasons = RiskReasons(v.Syntax, v.Risk)
	v.IsRisky = len(v.Reasons) > 0
	v.Verdict = Normalize(v.Syntax.IsValid, v.Deliverable, v.IsCatchAll, v.Reasons)
}

// RiskReasons recomputes the risk reasons from the risk flags (the server's
// isRisky is not trusted: its formula changed over time). An address with
// invalid syntax has no reasons.
func RiskReasons(syn Syntax, r Risk) []string {
	if !syn.IsValid {
		return nil
	}
	var out []string
	add := func(ok bool, reason string) {
		if ok {
			out = append(out, reason)
		}
	}
	add(r.IsFreeProvider, ReasonFreeProvider)
	add(r.IsRoleMailbox, ReasonRole)
	add(r.IsSystemGenerated, ReasonSystemGenerated)
	add(r.IsFirewalled, ReasonFirewalled)
	add(r.IsMailboxFull, ReasonMailboxFull)
	add(!r.IsPrimaryDomain, ReasonNotPrimaryDomain)
	return out
}

// Normalize maps the server's fields to a Verdict; see the package
// documentation for the table.
func Normalize(syntaxValid bool, deliverable string, catchAll bool, reasons []string) Verdict {
	switch {
	case !syntaxValid:
		return Invalid
	case strings.EqualFold(deliverable, "false"):
		return Undeliverable
	case strings.EqualFold(deliverable, "true"):
		if len(reasons) > 0 {
			return Risky
		}
		return Deliverable
	case catchAll:
		return CatchAll
	default: // "unknown", "" (verification failed) or anything new
		return Unknown
	}
}

// --- enrich person ---

type wirePersonResponse struct {
	envelope
	IsComplete    bool            `json:"isComplete"`
	PendingFields []string        `json:"pendingFields"`
	ResultURL     string          `json:"resultUrl"`
	Data          *wirePersonData `json:"data"`
}

type wirePersonData struct {
	Emails []struct {
		Address       string `json:"address"`
		Deliverable   string `json:"deliverable"`
		IsDeliverable *bool  `json:"isDeliverable"` // mid-2024
		IsRisky       *bool  `json:"isRisky"`
		Type          string `json:"type"`
	} `json:"emails"`
	Jobs []struct {
		Title           string `json:"title"`
		Seniority       string `json:"seniority"`
		Company         string `json:"company"`
		CompanyLinkedin string `json:"companyLinkedin"`
		CompanyWebsite  string `json:"companyWebsite"`
		IsCurrent       bool   `json:"isCurrent"`
		Duration        struct {
			StartMonth int `json:"startMonth"`
			StartYear  int `json:"startYear"`
			EndMonth   int `json:"endMonth"`
			EndYear    int `json:"endYear"`
		} `json:"duration"`
	} `json:"jobs"`
	Location struct {
		City, Region, Country, Timezone string
	} `json:"location"`
	Name struct {
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		FullName  string `json:"fullName"`
	} `json:"name"`
	PhoneNumbers []struct {
		Number string `json:"number"`
		Type   string `json:"type"`
	} `json:"phoneNumbers"`
	ProfilePic string `json:"profilePic"`
	Social     struct {
		Linkedin struct {
			ID            string `json:"id"`
			PublicID      string `json:"publicId"`
			URL           string `json:"url"`
			FollowerCount int    `json:"followerCount"`
		} `json:"linkedin"`
		X struct {
			Handle string `json:"handle"`
			URL    string `json:"url"`
		} `json:"x"`
		Github struct {
			Username string `json:"username"`
			URL      string `json:"url"`
		} `json:"github"`
		Discord struct {
			Username string `json:"username"`
		} `json:"discord"`
	} `json:"social"`
}

// decodePerson decodes an EnrichPersonResponse (both generations).
// complete202 is true when the HTTP status was 202.
func decodePerson(body []byte, status int) (*PersonResult, error) {
	var w wirePersonResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: person: %v", ErrBadResponse, err)
	}
	r := &PersonResult{Message: w.Message, RequestID: w.RequestID, Raw: json.RawMessage(body)}
	if strings.EqualFold(w.Status, "warning") {
		return r, nil
	}
	if strings.EqualFold(w.Status, "error") {
		return nil, fmt.Errorf("%w: person: status error: %s", ErrBadResponse, w.Message)
	}
	r.Found = true
	r.Complete = w.IsComplete && status != 202
	r.ResultURL = w.ResultURL
	r.PendingFields = nonEmpty(w.PendingFields)
	if w.Data != nil {
		r.Person = w.Data.person()
	}
	if r.Person == nil {
		r.Person = &Person{}
	}
	return r, nil
}

func (d *wirePersonData) person() *Person {
	p := &Person{
		FirstName: d.Name.FirstName, LastName: d.Name.LastName, FullName: d.Name.FullName,
		City: d.Location.City, Region: d.Location.Region, Country: d.Location.Country, Timezone: d.Location.Timezone,
		ProfilePic:  d.ProfilePic,
		LinkedInURL: d.Social.Linkedin.URL, LinkedInID: d.Social.Linkedin.ID, LinkedInPublicID: d.Social.Linkedin.PublicID,
		LinkedInFollowers: d.Social.Linkedin.FollowerCount,
		XHandle:           d.Social.X.Handle, XURL: d.Social.X.URL,
		GitHubUsername: d.Social.Github.Username, GitHubURL: d.Social.Github.URL,
		DiscordUsername: d.Social.Discord.Username,
	}
	p.Location = joinNonEmpty(", ", d.Location.City, d.Location.Region, d.Location.Country)
	for _, e := range d.Emails {
		pe := PersonEmail{Address: e.Address, Deliverable: e.Deliverable, Type: e.Type, IsRisky: e.IsRisky}
		if pe.Deliverable == "" && e.IsDeliverable != nil {
			pe.Deliverable = fmt.Sprint(*e.IsDeliverable)
		}
		p.Emails = append(p.Emails, pe)
	}
	for _, ph := range d.PhoneNumbers {
		if ph.Number != "" {
			p.Phones = append(p.Phones, ph.Number)
		}
	}
	current := -1
	for i, j := range d.Jobs {
		p.Jobs = append(p.Jobs, Job{Title: j.Title, Company: j.Company, CompanyLinkedInURL: j.CompanyLinkedin,
			CompanyWebsite: j.CompanyWebsite, Seniority: j.Seniority, IsCurrent: j.IsCurrent,
			StartMonth: j.Duration.StartMonth, StartYear: j.Duration.StartYear,
			EndMonth: j.Duration.EndMonth, EndYear: j.Duration.EndYear})
		if j.IsCurrent && current < 0 {
			current = i
		}
	}
	if current < 0 && len(p.Jobs) > 0 {
		current = 0
	}
	if current >= 0 {
		j := p.Jobs[current]
		p.Title, p.Company, p.CompanyWebsite, p.CompanyLinkedInURL = j.Title, j.Company, j.CompanyWebsite, j.CompanyLinkedInURL
	}
	return p
}

// --- enrich organization ---

type wireOrgResponse struct {
	envelope
	Data *struct {
		Name            string   `json:"name"`
		Domain          string   `json:"domain"`
		Description     string   `json:"description"`
		LongDescription string   `json:"longDescription"`
		Website         string   `json:"website"`
		Employees       int      `json:"employees"`
		FoundedYear     int      `json:"foundedYear"`
		Public          bool     `json:"public"`
		Logos           []string `json:"logos"`
		Icons           []string `json:"icons"`
		Socials         []string `json:"socials"`
		Industry        struct {
			Industry string `json:"industry"`
		} `json:"industry"`
		Location struct {
			IsHeadquarter bool   `json:"isHeadquarter"`
			Country       string `json:"country"`
			CountryCodeA2 string `json:"countryCodeA2"`
			City          string `json:"city"`
			Region        string `json:"region"`
			PostalCode    string `json:"postalCode"`
			AddressLine1  string `json:"addressLine1"`
			AddressLine2  string `json:"addressLine2"`
		} `json:"location"`
	} `json:"data"`
}

func decodeOrganization(body []byte) (*OrganizationResult, error) {
	var w wireOrgResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: organization: %v", ErrBadResponse, err)
	}
	r := &OrganizationResult{Message: w.Message, RequestID: w.RequestID, Raw: json.RawMessage(body)}
	if strings.EqualFold(w.Status, "warning") {
		return r, nil
	}
	if strings.EqualFold(w.Status, "error") || w.Data == nil {
		return nil, fmt.Errorf("%w: organization: no data (status %q)", ErrBadResponse, w.Status)
	}
	d := w.Data
	o := &Organization{Name: d.Name, Domain: d.Domain, Website: d.Website, Description: d.Description,
		LongDescription: d.LongDescription, Industry: d.Industry.Industry, Employees: d.Employees,
		FoundedYear: d.FoundedYear, Public: d.Public, Country: d.Location.Country, CountryCode: d.Location.CountryCodeA2,
		Region: d.Location.Region, City: d.Location.City, PostalCode: d.Location.PostalCode,
		AddressLine1: d.Location.AddressLine1, AddressLine2: d.Location.AddressLine2,
		IsHeadquarter: d.Location.IsHeadquarter,
		Socials:       nonEmpty(d.Socials), Logos: nonEmpty(d.Logos), Icons: nonEmpty(d.Icons)}
	for _, s := range o.Socials {
		if strings.Contains(strings.ToLower(s), "linkedin.com/") {
			o.LinkedInURL = s
			break
		}
	}
	r.Found = true
	r.Organization = o
	return r, nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func joinNonEmpty(sep string, parts ...string) string {
	return strings.Join(nonEmpty(parts), sep)
}
