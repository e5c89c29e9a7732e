package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// --- verify ---

func (s *Server) verify(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	addr := r.URL.Query().Get("address")
	if strings.TrimSpace(addr) == "" {
		msg := "Missing parameter: adderss"
		if rc.legacy {
			msg = "Missing address parameter"
		}
		s.writeError(w, rc, http.StatusBadRequest, msg)
		return
	}
	if !s.creditsLeft(1) {
		s.paymentRequired(w, rc)
		return
	}
	v := verifyAddress(addr)
	if v.billable() && !s.bill(EpVerify, addr) {
		s.paymentRequired(w, rc)
		return
	}
	risk := map[string]bool{"isFirewalled": v.Firewalled, "isRoleMailbox": v.Role, "isSystemGenerated": v.System,
		"isFreeProvider": v.Free, "isMailboxFull": v.MailboxFull, "isPrimaryDomain": v.Primary}
	syntax := map[string]any{"isValid": v.Valid, "domain": v.Domain, "user": v.User}
	rec := map[string]any{"deliverable": v.Deliverable, "provider": v.Provider, "secureGatewayProvider": v.Gateway,
		"isRisky": v.Valid && v.risky(), "isCatchAll": v.CatchAll, "risk": risk, "syntax": syntax}
	if rc.legacy {
		rec["status"] = "success"
		rec["email"] = addr
		rec["alternateEmail"] = v.AltEmail
		writeJSON(w, http.StatusOK, rec)
		return
	}
	rec["emailAddress"] = addr
	if v.AltEmail != "" {
		rec["alternateEmail"] = v.AltEmail
	}
	writeJSON(w, http.StatusOK, map[string]any{"email": rec, "requestId": s.requestID(), "status": "success"})
}

// --- person ---

type personTicket struct {
	Key     string `json:"k"`
	ByEmail bool   `json:"e,omitempty"`
	Mobile  bool   `json:"m,omitempty"`
	Legacy  bool   `json:"l,omitempty"`
	Created int64  `json:"t"`
}

// ticketID encodes a pending lookup into its result id, so the server
// keeps no state per async lookup. A checksum rejects made-up ids.
func (s *Server) ticketID(t personTicket) string {
	data, _ := json.Marshal(t)
	p := base64.RawURLEncoding.EncodeToString(data)
	return p + "." + strconv.FormatUint(hash64(s.seed, "ticket", p)&0xffffffff, 16)
}

func (s *Server) parseTicket(id string) (personTicket, bool) {
	var t personTicket
	p, sum, ok := strings.Cut(id, ".")
	if !ok || sum != strconv.FormatUint(hash64(s.seed, "ticket", p)&0xffffffff, 16) {
		return t, false
	}
	data, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(data, &t) != nil {
		return t, false
	}
	return t, true
}

type personFacts struct {
	found         bool
	first, last   string
	domain        string // company domain
	email         string // "" when none found
	phone         string // "" when none found
	linkedin      string
	h             uint64
	freeEmailUsed bool
}

func personFor(key string, byEmail, mobile bool) personFacts {
	k := strings.ToLower(strings.TrimSpace(key))
	f := personFacts{h: hash64("person", k)}
	var handle string
	if byEmail {
		local, dom, _ := strings.Cut(k, "@")
		handle = local
		f.domain = dom
		if _, free := freeProviders[dom]; free || dom == "" {
			f.domain = pick(companies, f.h)
			f.freeEmailUsed = true
		}
	} else {
		handle = slug(k)
		f.domain = pick(companies, f.h)
	}
	if hasAnyPrefix(handle, "nobody", "ghost") || handle == "" {
		return f
	}
	f.found = true
	f.first, f.last = namesFrom(handle)
	if f.first == "" {
		f.first = titleWord(handle)
	}
	if byEmail {
		f.linkedin = "https://www.linkedin.com/in/" + strings.Trim(strings.ToLower(f.first+"-"+f.last), "-")
	} else {
		f.linkedin = strings.TrimSpace(key)
	}
	if !strings.HasPrefix(handle, "noemail") {
		switch {
		case byEmail:
			f.email = strings.TrimSpace(key)
		case f.last != "":
			f.email = strings.ToLower(f.first+"."+f.last) + "@" + f.domain
		default:
			f.email = strings.ToLower(f.first) + "@" + f.domain
		}
	}
	if mobile && !strings.HasPrefix(handle, "nophone") {
		f.phone = "+1415555" + digits(f.h, 4)
	}
	return f
}

func (f personFacts) data(complete bool) map[string]any {
	label, _, _ := strings.Cut(f.domain, ".")
	full := ""
	if f.first != "" && f.last != "" {
		full = f.first + " " + f.last
	}
	pub := slug(f.linkedin)
	d := map[string]any{
		"emails": nil,
		"jobs": []any{map[string]any{
			"title": pick(titles, f.h>>8), "seniority": "",
			"duration":        map[string]any{"startMonth": 1 + int(f.h>>16%12), "startYear": 2015 + int(f.h>>24%9)},
			"company":         companyName(f.domain),
			"companyLinkedin": "https://www.linkedin.com/company/" + label,
			"companyWebsite":  "https://" + f.domain,
			"isCurrent":       true,
		}},
		"location":     map[string]string{"city": "", "region": pick(regions, f.h>>32), "country": "", "timezone": ""},
		"name":         map[string]string{"firstName": f.first, "lastName": f.last, "fullName": full},
		"phoneNumbers": nil,
		"profilePic":   "https://media.example.com/profile/" + pub + ".jpg",
		"social": map[string]any{
			"linkedin": map[string]any{"id": digits(f.h, 9), "publicId": pub, "url": f.linkedin, "followerCount": int(f.h % 2000)},
			"x":        map[string]string{"handle": "", "url": ""},
			"github":   map[string]string{"username": "", "url": ""},
			"discord":  map[string]string{"username": ""},
		},
	}
	if complete {
		if f.email != "" {
			v := verifyAddress(f.email)
			typ := "work"
			if v.Free {
				typ = "personal"
			}
			e := map[string]any{"address": f.email, "type": typ}
			if v.Valid {
				e["deliverable"] = v.Deliverable
				e["isRisky"] = v.risky()
			}
			d["emails"] = []any{e}
		}
		if f.phone != "" {
			d["phoneNumbers"] = []any{map[string]string{"number": f.phone, "type": "mobile"}}
		}
	}
	return d
}

func (s *Server) person(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	email, li := strings.TrimSpace(q.Get("email")), strings.TrimSpace(q.Get("linkedinUrl"))
	if email == "" && li == "" {
		msg := "Missing linkedinUrl or email"
		if rc.legacy {
			msg = "Missing required parameters linkedinUrl or email"
		}
		s.writeError(w, rc, http.StatusBadRequest, msg)
		return
	}
	if !s.creditsLeft(1) {
		s.paymentRequired(w, rc)
		return
	}
	byEmail := email != ""
	key := li
	if byEmail {
		key = email
	}
	mobile := q.Get("includeMobileNumber") == "true"
	f := personFor(key, byEmail, mobile)
	if !f.found {
		s.notFound(w, rc, "Person not found")
		return
	}
	if unit(hash64(s.seed, "async", rc.key)) < s.opts.AsyncFraction {
		t := personTicket{Key: key, ByEmail: byEmail, Mobile: mobile, Legacy: rc.legacy, Created: time.Now().UnixNano()}
		s.writePerson(w, r, rc.legacy, f, false, mobile, s.ticketID(t))
		return
	}
	if (f.email != "" || f.phone != "") && !s.bill(EpPerson, key) {
		s.paymentRequired(w, rc)
		return
	}
	s.writePerson(w, r, rc.legacy, f, true, mobile, "")
}

func (s *Server) writePerson(w http.ResponseWriter, r *http.Request, legacy bool, f personFacts, complete, mobile bool, id string) {
	body := map[string]any{"status": "success", "isComplete": complete, "data": f.data(complete)}
	if !legacy {
		body["requestId"] = s.requestID()
	}
	status := http.StatusOK
	if !complete {
		status = http.StatusAccepted
		pending := []string{"email"}
		if mobile {
			pending = append(pending, "phone number")
		}
		body["pendingFields"] = pending
		body["resultUrl"] = baseURL(r) + "/enrich/v1/person/results/" + id
	}
	writeJSON(w, status, body)
}

func (s *Server) personPoll(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	t, ok := s.parseTicket(r.PathValue("id"))
	if ok {
		rc.legacy = t.Legacy
	}
	if !ok {
		msg := "Resource not found"
		if rc.legacy {
			msg = "Record not found"
		}
		s.writeError(w, rc, http.StatusNotFound, msg)
		return
	}
	f := personFor(t.Key, t.ByEmail, t.Mobile)
	done := s.asyncDone(t.Created, s.opts.AsyncDelay)
	var id string
	if !done {
		id = r.PathValue("id")
	}
	s.writePerson(w, r, t.Legacy, f, done, t.Mobile, id)
}

// notFound writes the "warning" answer: 404 (current) or 200 (legacy).
func (s *Server) notFound(w http.ResponseWriter, rc *reqCtx, msg string) {
	if rc.legacy {
		writeJSON(w, http.StatusOK, map[string]any{"status": "warning", "message": msg})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"requestId": s.requestID(), "status": "warning", "message": msg})
}

// --- organization ---

func (s *Server) organization(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	domain, li := strings.ToLower(strings.TrimSpace(q.Get("domain"))), strings.TrimSpace(q.Get("linkedinUrl"))
	if domain == "" && li == "" {
		msg := "Missing linkedinUrl or domain"
		if rc.legacy {
			msg = "Missing required parameters linkedinUrl or domain"
		}
		s.writeError(w, rc, http.StatusBadRequest, msg)
		return
	}
	if !s.creditsLeft(1) {
		s.paymentRequired(w, rc)
		return
	}
	domain = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(domain, "https://"), "http://"), "www.")
	domain, _, _ = strings.Cut(domain, "/")
	if domain == "" {
		domain = slug(li) + ".com"
	}
	label, _, _ := strings.Cut(domain, ".")
	if hasAnyPrefix(label, "unknown", "nonexistent") || label == "" {
		s.notFound(w, rc, "Organization not found")
		return
	}
	if !s.bill(EpOrganization, rc.key) {
		s.paymentRequired(w, rc)
		return
	}
	h := hash64("org", domain)
	c := pick(countries, h>>8)
	name := companyName(domain)
	ind := pick(industries, h>>16)
	loc := map[string]any{"isHeadquarter": true, "country": c.name, "countryCodeA2": c.code, "city": c.city,
		"region": c.region, "postalCode": digits(h>>20, 5), "addressLine1": strconv.Itoa(1+int(h%900)) + " Main St", "addressLine2": ""}
	data := map[string]any{
		"name": name, "domain": domain, "website": "https://" + domain,
		"description":     name + " is a " + strings.ToLower(ind) + " company.",
		"longDescription": name + " builds products for customers in " + c.name + ".",
		"employees":       10 + int(h>>24%10000), "foundedYear": 1950 + int(h>>40%70), "public": h%5 == 0,
		"logos": []string{"https://" + domain + "/logo.png"}, "icons": []string{"https://" + domain + "/favicon.ico"},
		"industry": map[string]string{"industry": ind},
		"socials":  []string{"https://www.linkedin.com/company/" + label},
		"location": loc,
	}
	body := map[string]any{"status": "success", "data": data}
	if !rc.legacy {
		body["requestId"] = s.requestID()
		// current code: omitempty on the optional fields
		if data["public"] == false {
			delete(data, "public")
		}
		delete(loc, "addressLine2")
	}
	writeJSON(w, http.StatusOK, body)
}

// --- bulk ---

type bulkJob struct {
	id       string
	emails   []string
	created  time.Time
	legacy   bool
	fileName string
}

func (s *Server) jobDone(j *bulkJob) bool { return s.asyncDone(j.created.UnixNano(), s.opts.BulkDelay) }

func (s *Server) bulkSubmit(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	bad := func(cur, leg string) {
		msg := cur
		if rc.legacy {
			msg = leg
		}
		s.writeError(w, rc, http.StatusBadRequest, msg)
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		bad("Unable to read csv file", "Failed to read file")
		return
	}
	defer file.Close()
	if !strings.HasPrefix(hdr.Header.Get("Content-Type"), "text/csv") && !strings.HasSuffix(strings.ToLower(hdr.Filename), ".csv") {
		bad("File type not permitted", "Only CSV files are accepted")
		return
	}
	data, err := io.ReadAll(file)
	if err != nil {
		bad("Unable to read csv file", "Failed to read file")
		return
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		bad("Unable to parse csv file", "Failed to parse CSV file")
		return
	}
	col := 0
	if len(rows) > 0 && len(rows[0]) > 1 {
		name := r.FormValue("emailColumn")
		if name == "" {
			bad("Missing emailColumn parameter", "Multiple columns found, please provide 'emailColumn' parameter")
			return
		}
		col = -1
		for i, h := range rows[0] {
			if strings.EqualFold(strings.TrimSpace(h), name) {
				col = i
			}
		}
		if col < 0 {
			bad("Column '"+name+"' not found", "Column '"+name+"' not found")
			return
		}
	}
	var emails []string
	seen := map[string]bool{}
	for i, row := range rows {
		if i == 0 || col >= len(row) {
			continue // the first row is always a header
		}
		e := strings.TrimSpace(row[col])
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		emails = append(emails, e)
	}
	if len(emails) == 0 {
		bad("No record in the csv file", "No records found in the file")
		return
	}
	var billed []string
	for _, e := range emails {
		if verifyAddress(e).billable() {
			billed = append(billed, e)
		}
	}
	if !s.creditsLeft(int64(len(billed))) || !s.bill(EpBulkSubmit, billed...) {
		s.paymentRequired(w, rc)
		return
	}
	legacy := s.isLegacy(string(data))
	n := strconv.FormatUint(s.ids.Add(1), 10)
	var id string
	if legacy {
		id = uuid(hash64(s.seed, "job", n), hash64(s.seed, "job2", n))
	} else {
		id = "api_" + base62(hash64(s.seed, "job", n), 16)
	}
	job := &bulkJob{id: id, emails: emails, created: time.Now(), legacy: legacy, fileName: hdr.Filename}
	s.mu.Lock()
	s.jobs[id] = job
	s.mu.Unlock()
	body := map[string]any{"status": "success", "message": "File uploaded successfully", "jobId": id,
		"resultUrl":             baseURL(r) + "/verify/v1/email/bulk/results/" + id,
		"estimatedCompletionTs": float64(job.created.Add(s.opts.BulkDelay).Unix()),
	}
	if !legacy {
		body["requestId"] = id
	}
	writeJSON(w, http.StatusOK, body)
}

func uuid(a, b uint64) string {
	x := fmt.Sprintf("%016x%016x", a, b)
	return x[0:8] + "-" + x[8:12] + "-4" + x[13:16] + "-a" + x[17:20] + "-" + x[20:32]
}

func (s *Server) job(w http.ResponseWriter, r *http.Request, rc *reqCtx) *bulkJob {
	id := r.PathValue("id")
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	rc.legacy = !strings.HasPrefix(id, "api_")
	if j == nil {
		msg := "Invalid requestId"
		if rc.legacy {
			msg = "Request not found"
		}
		s.writeError(w, rc, http.StatusNotFound, msg)
	}
	return j
}

func (s *Server) bulkStatus(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	j := s.job(w, r, rc)
	if j == nil {
		return
	}
	total := len(j.emails)
	if !s.jobDone(j) {
		doneN := int(float64(total) * float64(time.Since(j.created)) / float64(s.opts.BulkDelay))
		writeJSON(w, http.StatusOK, map[string]any{"jobId": j.id, "status": "processing", "fileName": j.fileName,
			"message":               fmt.Sprintf("Completed %d of %d emails", min(doneN, total), total),
			"estimatedCompletionTs": j.created.Add(s.opts.BulkDelay).Unix()})
		return
	}
	deliverable := 0
	for _, e := range j.emails {
		if verifyAddress(e).Deliverable == "true" {
			deliverable++
		}
	}
	body := map[string]any{"jobId": j.id, "status": "completed", "fileName": j.fileName, "message": "",
		"estimatedCompletionTs": 0,
		"results": map[string]any{"totalEmails": total, "deliverable": deliverable, "undeliverable": total - deliverable,
			"downloadUrl": baseURL(r) + "/verify/v1/email/bulk/results/" + j.id + "/download"}}
	if !j.legacy {
		body["requestId"] = s.requestID()
	}
	writeJSON(w, http.StatusOK, body)
}

// bulkCSVHeader is the legacy bulk result header (TLSRequired twice).
var bulkCSVHeader = []string{"Email", "SyntaxIsValid", "User", "Domain", "CleanEmail", "IsFirewalled", "Provider",
	"SecureGatewayProvider", "IsCatchAll", "CanConnectSMTP", "HasMXRecord", "HasSPFRecord", "TLSRequired",
	"IsPrimaryDomain", "PrimaryDomain", "SkippedValidation", "Deliverable", "IsMailboxFull", "IsRoleAccount",
	"IsFreeAccount", "SmtpSuccess", "RetryValidation", "TLSRequired", "AlternateEmail"}

func (s *Server) bulkDownload(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	j := s.job(w, r, rc)
	if j == nil {
		return
	}
	const msg = "The bulk request is still being processed. Please try again later."
	if !s.jobDone(j) {
		if j.legacy {
			writeJSON(w, http.StatusAccepted, map[string]any{"status": "processing", "message": msg})
		} else {
			writeJSON(w, http.StatusOK, map[string]any{"requestId": s.requestID(), "status": "success", "message": msg})
		}
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(bulkCSVHeader)
	b := strconv.FormatBool
	for _, e := range j.emails {
		v := verifyAddress(e)
		primary := v.Domain
		if !v.Primary && v.AltEmail != "" {
			_, primary, _ = strings.Cut(v.AltEmail, "@")
		}
		_ = cw.Write([]string{e, b(v.Valid), v.User, v.Domain, strings.ToLower(strings.TrimSpace(e)), b(v.Firewalled),
			v.Provider, v.Gateway, b(v.CatchAll), b(v.Valid && v.Deliverable != "false"), b(v.Valid), b(v.Valid), "false",
			b(v.Primary), primary, "false", v.Deliverable, b(v.MailboxFull), b(v.Role), b(v.Free),
			b(v.Deliverable == "true"), b(v.Deliverable == "unknown"), "false", v.AltEmail})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.writeError(w, rc, http.StatusInternalServerError, "Unable to fetch csv file")
		return
	}
	w.Header().Set("Content-Type", "text/csv")
	if j.legacy {
		w.Header().Set("Content-Disposition", "attachment; filename="+j.id+".csv")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
