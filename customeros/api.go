package customeros

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// VerifyEmail verifies one address (GET /verify/v1/email). An address with
// invalid syntax is a result (Verdict Invalid), not an error. The call is
// slow (3–40 s) and billed unless the result is "unknown".
func (c *Client) VerifyEmail(ctx context.Context, address string) (*Verification, error) {
	if strings.TrimSpace(address) == "" {
		return nil, &APIError{Endpoint: EndpointVerify, Err: fmt.Errorf("%w: empty address", ErrInvalidArgument)}
	}
	var v *Verification
	// The same as url.Values{…}.Encode(), without the map and the sort.
	q := "address=" + url.QueryEscape(address) + "&verifyCatchAll=true"
	_, err := c.do(ctx, &call{ep: EndpointVerify, method: http.MethodGet, path: "/verify/v1/email", query: q,
		decode: func(_ int, body []byte) (err error) {
			v, err = decodeVerification(body)
			return err
		}})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// EnrichPerson looks a person up by email or LinkedIn URL (GET
// /enrich/v1/person). A not-found answer (200 or 404 with status "warning")
// is a result with Found false. A 202 gives Complete false and a ResultURL
// to hand to PollPerson later; the partial Person is already filled.
func (c *Client) EnrichPerson(ctx context.Context, q PersonQuery) (*PersonResult, error) {
	if strings.TrimSpace(q.Email) == "" && strings.TrimSpace(q.LinkedInURL) == "" {
		return nil, &APIError{Endpoint: EndpointPerson, Err: fmt.Errorf("%w: email or linkedin url required", ErrInvalidArgument)}
	}
	v := url.Values{}
	set := func(k, val string) {
		if val = strings.TrimSpace(val); val != "" {
			v.Set(k, val)
		}
	}
	set("email", q.Email)
	set("linkedinUrl", q.LinkedInURL)
	set("firstName", q.FirstName)
	set("lastName", q.LastName)
	if q.IncludeMobile {
		v.Set("includeMobileNumber", "true")
	}
	return c.person(ctx, &call{ep: EndpointPerson, method: http.MethodGet, path: "/enrich/v1/person", query: v.Encode(), warning404: true})
}

// PollPerson fetches an asynchronous person result once (GET
// /enrich/v1/person/results/{id}); it never loops. The id is taken from
// resultURL and the request goes to BaseURL, so the key never goes to a
// host named by a server answer. Complete is false while still pending.
// An unknown id is an *APIError wrapping ErrNotFound.
func (c *Client) PollPerson(ctx context.Context, resultURL string) (*PersonResult, error) {
	id, err := ResultID(resultURL)
	if err != nil {
		return nil, &APIError{Endpoint: EndpointPersonPoll, Err: err}
	}
	return c.person(ctx, &call{ep: EndpointPersonPoll, method: http.MethodGet,
		path: "/enrich/v1/person/results/" + url.PathEscape(id), warning404: true})
}

func (c *Client) person(ctx context.Context, cl *call) (*PersonResult, error) {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	r, err := decodePerson(resp.body, resp.status)
	if err != nil {
		return nil, &APIError{Endpoint: cl.ep, Status: resp.status, Err: err}
	}
	if cl.ep == EndpointPersonPoll && r.Found && !r.Complete && r.ResultURL == "" {
		r.ResultURL = c.BaseURL + cl.path
	}
	return r, nil
}

// ResultID extracts the result id (the last path segment) from a person
// resultUrl, or accepts a bare id.
func ResultID(resultURL string) (string, error) {
	s := strings.TrimSpace(resultURL)
	if u, err := url.Parse(s); err == nil && (u.Scheme != "" || strings.Contains(s, "/")) {
		s = strings.TrimRight(u.Path, "/")
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			s = s[i+1:]
		}
	}
	if s == "" || s == "results" || strings.ContainsAny(s, "/?#") {
		return "", fmt.Errorf("%w: no result id in result url", ErrInvalidArgument)
	}
	return s, nil
}

// EnrichOrganization looks a company up by domain or LinkedIn URL (GET
// /enrich/v1/organization). Not found (200 or 404 with status "warning") is
// a result with Found false.
func (c *Client) EnrichOrganization(ctx context.Context, q OrganizationQuery) (*OrganizationResult, error) {
	if strings.TrimSpace(q.Domain) == "" && strings.TrimSpace(q.LinkedInURL) == "" {
		return nil, &APIError{Endpoint: EndpointOrganization, Err: fmt.Errorf("%w: domain or linkedin url required", ErrInvalidArgument)}
	}
	v := url.Values{}
	if d := strings.TrimSpace(q.Domain); d != "" {
		v.Set("domain", d)
	}
	if l := strings.TrimSpace(q.LinkedInURL); l != "" {
		v.Set("linkedinUrl", l)
	}
	resp, err := c.do(ctx, &call{ep: EndpointOrganization, method: http.MethodGet, path: "/enrich/v1/organization", query: v.Encode(), warning404: true})
	if err != nil {
		return nil, err
	}
	r, err := decodeOrganization(resp.body)
	if err != nil {
		return nil, &APIError{Endpoint: EndpointOrganization, Status: resp.status, Err: err}
	}
	return r, nil
}

// SubmitBulkVerify uploads addresses as a one-column CSV (POST
// /verify/v1/email/bulk) and returns the job. Empty and duplicate entries
// are dropped client-side (the server would drop them too).
//
// Each upload is a new paid job and the API has no idempotency key, so this
// call is retried only when the server cannot have acted on it: when the
// request was never written (connection refused, DNS, TLS handshake) or when
// the server answered 429 or 503 (it refused to process). A timeout, reset,
// 5xx or truncated answer after the request was written returns an
// *APIError with Ambiguous set: reconcile (or accept the cost) before
// submitting again.
func (c *Client) SubmitBulkVerify(ctx context.Context, emails []string) (*BulkJob, error) {
	body, ctype, n, err := bulkBody(emails)
	if err != nil {
		return nil, &APIError{Endpoint: EndpointBulkSubmit, Err: err}
	}
	if n == 0 {
		return nil, &APIError{Endpoint: EndpointBulkSubmit, Err: fmt.Errorf("%w: no addresses", ErrInvalidArgument)}
	}
	resp, err := c.do(ctx, &call{ep: EndpointBulkSubmit, method: http.MethodPost, path: "/verify/v1/email/bulk",
		body: body, ctype: ctype, unsafe: true})
	if err != nil {
		return nil, err
	}
	var w struct {
		envelope
		JobID                 string   `json:"jobId"`
		ResultURL             string   `json:"resultUrl"`
		EstimatedCompletionTs *float64 `json:"estimatedCompletionTs"`
	}
	if err := json.Unmarshal(resp.body, &w); err != nil || w.JobID == "" {
		// The job may exist: the answer is unusable, so this is ambiguous.
		return nil, &APIError{Endpoint: EndpointBulkSubmit, Status: resp.status, Ambiguous: true,
			Err: fmt.Errorf("%w: bulk upload answer without jobId", ErrBadResponse)}
	}
	return &BulkJob{ID: w.JobID, ResultURL: w.ResultURL, EstimatedCompletion: unixTime(w.EstimatedCompletionTs), Message: w.Message}, nil
}

func bulkBody(emails []string) (body []byte, ctype string, n int, err error) {
	var csvBuf bytes.Buffer
	cw := csv.NewWriter(&csvBuf)
	_ = cw.Write([]string{"email"})
	seen := make(map[string]struct{}, len(emails))
	for _, e := range emails {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if _, dup := seen[e]; dup {
			continue
		}
		seen[e] = struct{}{}
		_ = cw.Write([]string{e})
		n++
	}
	cw.Flush()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="emails.csv"`)
	h.Set("Content-Type", "text/csv")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", 0, fmt.Errorf("build upload: %w", err)
	}
	if _, err := part.Write(csvBuf.Bytes()); err != nil {
		return nil, "", 0, fmt.Errorf("build upload: %w", err)
	}
	_ = mw.WriteField("emailColumn", "email")
	_ = mw.WriteField("verifyCatchAll", "true")
	if err := mw.Close(); err != nil {
		return nil, "", 0, fmt.Errorf("build upload: %w", err)
	}
	return buf.Bytes(), mw.FormDataContentType(), n, nil
}

// BulkVerifyStatus fetches a bulk job's progress (GET
// /verify/v1/email/bulk/results/{id}). Completed is true once the server
// says "completed"; an unknown job is an *APIError wrapping ErrNotFound.
func (c *Client) BulkVerifyStatus(ctx context.Context, jobID string) (*BulkStatus, error) {
	if err := checkJobID(jobID); err != nil {
		return nil, &APIError{Endpoint: EndpointBulkStatus, Err: err}
	}
	resp, err := c.do(ctx, &call{ep: EndpointBulkStatus, method: http.MethodGet,
		path: "/verify/v1/email/bulk/results/" + url.PathEscape(jobID)})
	if err != nil {
		return nil, err
	}
	var w struct {
		envelope
		JobID                 string   `json:"jobId"`
		FileName              string   `json:"fileName"`
		EstimatedCompletionTs *float64 `json:"estimatedCompletionTs"`
		Results               *struct {
			TotalEmails   int    `json:"totalEmails"`
			Deliverable   int    `json:"deliverable"`
			Undeliverable int    `json:"undeliverable"`
			DownloadURL   string `json:"downloadUrl"`
		} `json:"results"`
	}
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, &APIError{Endpoint: EndpointBulkStatus, Status: resp.status, Err: fmt.Errorf("%w: bulk status: %v", ErrBadResponse, err)}
	}
	st := &BulkStatus{JobID: w.JobID, FileName: w.FileName, Message: w.Message,
		Completed: strings.EqualFold(w.Status, "completed"), EstimatedCompletion: unixTime(w.EstimatedCompletionTs)}
	if st.JobID == "" {
		st.JobID = jobID
	}
	if w.Results != nil {
		st.Total, st.Deliverable, st.Undeliverable, st.DownloadURL = w.Results.TotalEmails, w.Results.Deliverable, w.Results.Undeliverable, w.Results.DownloadURL
	}
	return st, nil
}

// DownloadBulkVerify fetches a finished job's per-address results (GET
// /verify/v1/email/bulk/results/{id}/download). While the job is still
// processing it returns ErrNotReady (legacy servers answer 202 JSON,
// current ones 200 JSON). CSV columns are mapped by name and occurrence
// (the header repeats TLSRequired).
func (c *Client) DownloadBulkVerify(ctx context.Context, jobID string) ([]Verification, error) {
	if err := checkJobID(jobID); err != nil {
		return nil, &APIError{Endpoint: EndpointBulkDownload, Err: err}
	}
	resp, err := c.do(ctx, &call{ep: EndpointBulkDownload, method: http.MethodGet,
		path: "/verify/v1/email/bulk/results/" + url.PathEscape(jobID) + "/download", download: true})
	if err != nil {
		return nil, err
	}
	if resp.status == http.StatusAccepted || looksJSON(resp.header, resp.body) {
		return nil, &APIError{Endpoint: EndpointBulkDownload, Status: resp.status, Message: errorMessage(resp.body), Retryable: true, Err: ErrNotReady}
	}
	vs, err := ParseBulkCSV(bytes.NewReader(resp.body))
	if err != nil {
		return nil, &APIError{Endpoint: EndpointBulkDownload, Status: resp.status, Err: err}
	}
	return vs, nil
}

func checkJobID(id string) error {
	if strings.TrimSpace(id) == "" || strings.ContainsAny(id, "/?#") {
		return fmt.Errorf("%w: bad job id", ErrInvalidArgument)
	}
	return nil
}

func unixTime(ts *float64) time.Time {
	if ts == nil || *ts <= 0 || math.IsNaN(*ts) || math.IsInf(*ts, 0) {
		return time.Time{}
	}
	sec, frac := math.Modf(*ts)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// ParseBulkCSV decodes a bulk result CSV (header row first). Columns are
// found by name, case-insensitively; the n-th repeat of a name is "Name#n"
// (TLSRequired#2 is the email-level TLS flag). Only Email is required.
func ParseBulkCSV(r io.Reader) ([]Verification, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: bulk csv header: %v", ErrBadResponse, err)
	}
	names := make([]string, len(header))
	idx := map[string]int{}
	seen := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		seen[strings.ToLower(h)]++
		if n := seen[strings.ToLower(h)]; n > 1 {
			h += "#" + strconv.Itoa(n)
		}
		names[i] = h
		idx[strings.ToLower(h)] = i
	}
	if _, ok := idx["email"]; !ok {
		return nil, fmt.Errorf("%w: bulk csv has no Email column", ErrBadResponse)
	}
	var out []Verification
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: bulk csv: %v", ErrBadResponse, err)
		}
		get := func(name string) string {
			if i, ok := idx[strings.ToLower(name)]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		flag := func(name string) bool { return strings.EqualFold(get(name), "true") }
		primary := get("IsPrimaryDomain") == "" || flag("IsPrimaryDomain")
		v := Verification{
			Email:                 get("Email"),
			Deliverable:           get("Deliverable"),
			IsCatchAll:            flag("IsCatchAll"),
			Provider:              get("Provider"),
			SecureGatewayProvider: get("SecureGatewayProvider"),
			AlternateEmail:        get("AlternateEmail"),
			Risk: Risk{IsFirewalled: flag("IsFirewalled"), IsRoleMailbox: flag("IsRoleAccount"),
				IsSystemGenerated: flag("IsSystemGenerated"), IsFreeProvider: flag("IsFreeAccount"),
				IsMailboxFull: flag("IsMailboxFull"), IsPrimaryDomain: primary},
			Syntax: Syntax{IsValid: flag("SyntaxIsValid"), User: get("User"), Domain: get("Domain")},
			Bulk: &BulkDetails{CleanEmail: get("CleanEmail"), CanConnectSMTP: flag("CanConnectSMTP"),
				HasMXRecord: flag("HasMXRecord"), HasSPFRecord: flag("HasSPFRecord"), DomainTLSRequired: flag("TLSRequired"),
				PrimaryDomain: get("PrimaryDomain"), SkippedValidation: flag("SkippedValidation"), SMTPSuccess: flag("SmtpSuccess"),
				RetryValidation: flag("RetryValidation"), TLSRequired: flag("TLSRequired#2")},
		}
		if get("SyntaxIsValid") == "" && v.Email != "" && v.Syntax.Domain == "" {
			v.Syntax.IsValid = strings.Count(v.Email, "@") == 1 // column missing: best effort
		}
		if r := get("IsRisky"); r != "" {
			b := strings.EqualFold(r, "true")
			v.ReportedRisky = &b
		}
		m := make(map[string]string, len(names))
		for i, n := range names {
			if i < len(rec) {
				m[n] = rec[i]
			}
		}
		v.Raw, _ = json.Marshal(m)
		v.normalize()
		out = append(out, v)
	}
	return out, nil
}
