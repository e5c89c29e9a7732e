package contact

import (
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// Normalize returns c with every field trimmed and canonicalized: email lower-cased with a
// leading "mailto:" and surrounding <> / quotes stripped; LinkedIn URLs canonical
// ("https://www.linkedin.com/in/<slug>" / ".../company/<slug>", lower-case, no query,
// fragment, trailing slash, country/mobile subdomains folded); Website reduced to a
// canonical https URL; Domain lower-case host without www. taken from Domain, else Website,
// else the email's domain when it is not a free provider (isFree may be nil).
//
// Names, title and company are trimmed with inner runs of white space folded
// to one space; phone is trimmed. A LinkedIn URL found in Website (LinkedIn's
// own connection export calls the profile column "URL") moves to the empty
// LinkedIn field it belongs to, and a company URL in LinkedInURL (or a person
// URL in CompanyLinkedInURL) moves across likewise. LinkedIn, Website and
// Domain values that cannot be what they claim ("n/a", a non-LinkedIn URL, a
// host without a dot) become "". isFree is given the ASCII (punycode) domain;
// pass Checker.NotCompany so that neither free nor disposable domains are
// taken for a company's.
func Normalize(c Contact, isFree func(domain string) bool) Contact {
	c.Email = NormalizeEmail(c.Email)
	c.FirstName = cleanText(c.FirstName)
	c.LastName = cleanText(c.LastName)
	c.FullName = cleanText(c.FullName)
	c.Title = cleanText(c.Title)
	c.Company = cleanText(c.Company)
	c.Phone = trimSpace(c.Phone)

	person := NormalizeLinkedIn(c.LinkedInURL)
	company := NormalizeLinkedIn(c.CompanyLinkedInURL)
	if isCompanyLinkedIn(person) && company == "" {
		person, company = "", person
	}
	if isPersonLinkedIn(company) && person == "" {
		person, company = company, ""
	}
	if li := NormalizeLinkedIn(c.Website); li != "" {
		switch {
		case isCompanyLinkedIn(li) && company == "":
			company = li
		case !isCompanyLinkedIn(li) && person == "":
			person = li
		}
		c.Website = ""
	}
	c.LinkedInURL, c.CompanyLinkedInURL = person, company

	c.Website = NormalizeWebsite(c.Website)
	c.Domain = NormalizeDomain(c.Domain)
	if c.Domain == "" && c.Website != "" {
		c.Domain = NormalizeDomain(c.Website)
	}
	if c.Domain == "" {
		if at := strings.LastIndexByte(c.Email, '@'); at >= 0 {
			if d := NormalizeDomain(c.Email[at+1:]); d != "" && (isFree == nil || !isFree(d)) {
				c.Domain = d
			}
		}
	}
	return c
}

// NormalizeEmail returns s trimmed and lower-cased, without a leading
// "mailto:" (and its "?subject=" tail), surrounding quotes or angle brackets,
// a "Display Name <addr>" wrapper, or trailing ",", ";" or ".". It does not
// validate: Checker.Check does.
func NormalizeEmail(s string) string {
	s = trimSpace(s)
	for {
		before := s
		if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
			s = s[7:]
			if q := strings.IndexByte(s, '?'); q >= 0 {
				s = s[:q]
			}
		}
		if strings.HasSuffix(s, ">") {
			if lt := strings.LastIndexByte(s, '<'); lt >= 0 {
				s = s[lt+1 : len(s)-1]
			}
		}
		if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
			s = s[1 : len(s)-1]
		}
		s = strings.TrimRight(s, ",;.")
		s = trimSpace(s)
		if s == before {
			break
		}
	}
	return strings.ToLower(s)
}

// NormalizeLinkedIn returns the canonical form of a LinkedIn profile, company,
// school or showcase page URL: "https://www.linkedin.com/<kind>/<slug>" with
// the slug lower-cased and path-escaped, the scheme added when missing,
// country and mobile subdomains (uk., de., m.) folded into www., and any
// query, fragment, trailing slash or sub-page ("/about", "/en") dropped.
// Old "/pub/" URLs keep their whole path, lower-cased. Sales Navigator member
// ids ("ACwAA...") keep their case, which is significant. Anything else (empty,
// not on linkedin.com, a feed or job URL) gives "".
func NormalizeLinkedIn(s string) string {
	u := parseLoose(s)
	if u == nil {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host != "linkedin.com" && !strings.HasSuffix(host, ".linkedin.com") {
		return ""
	}
	var segs []string
	for seg := range strings.SplitSeq(u.Path, "/") {
		if seg = trimSpace(seg); seg != "" {
			segs = append(segs, seg)
		}
	}
	if len(segs) > 0 && strings.EqualFold(segs[0], "mwlite") {
		segs = segs[1:]
	}
	if len(segs) < 2 {
		return ""
	}
	kind := strings.ToLower(segs[0])
	switch kind {
	case "in", "company", "school", "showcase":
		slug := segs[1]
		if !isMemberID(slug) {
			slug = strings.ToLower(slug)
		}
		return "https://www.linkedin.com/" + kind + "/" + url.PathEscape(slug)
	case "pub":
		for i := range segs {
			segs[i] = url.PathEscape(strings.ToLower(segs[i]))
		}
		return "https://www.linkedin.com/" + strings.Join(segs, "/")
	case "sales":
		for i := range segs {
			segs[i] = url.PathEscape(segs[i])
		}
		return "https://www.linkedin.com/" + strings.Join(segs, "/")
	}
	return ""
}

// NormalizeDomain returns the host named by s (a bare domain, a URL or an
// email address) in lower-case ASCII (IDNA/punycode) form, without a leading
// "www.", a port or a trailing dot. It gives "" when s names no plausible
// internet domain: empty, an IP address, a single label, or a name IDNA
// rejects.
func NormalizeDomain(s string) string {
	h := hostOf(s)
	if h == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(h, "www."); ok && strings.Contains(rest, ".") {
		h = rest
	}
	return h
}

// NormalizeWebsite returns s reduced to "https://<host>": the host lower-case
// ASCII (IDNA/punycode), a "www." kept, path, query, fragment, port and user
// info dropped. It gives "" when s names no plausible internet host (see
// NormalizeDomain).
func NormalizeWebsite(s string) string {
	h := hostOf(s)
	if h == "" {
		return ""
	}
	return "https://" + h
}

// hostOf extracts and validates the host of a domain, URL or email address.
func hostOf(s string) string {
	s = trimSpace(s)
	// Several values in one cell ("acme.com, acme.de"): take the first.
	if i := strings.IndexAny(s, ",; \t"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") && !strings.Contains(s, "/") {
		if at := strings.LastIndexByte(s, '@'); at >= 0 {
			s = s[at+1:]
		}
	}
	if h, ok := plainHost(s); ok {
		if !plausibleDomain(h) {
			return ""
		}
		return h
	}
	return hostOfURL(s)
}

// hostOfURL is hostOf's long way: the host of s parsed as a URL, through
// IDNA's lookup mapping, if it is a plausible domain ("" otherwise).
func hostOfURL(s string) string {
	u := parseLoose(s)
	if u == nil {
		return ""
	}
	h := strings.TrimRight(u.Hostname(), ".")
	if h == "" || strings.ContainsAny(h, "[]:") {
		return ""
	}
	ascii, err := idna.Lookup.ToASCII(h)
	if err != nil || !plausibleDomain(ascii) {
		return ""
	}
	return ascii
}

// plainHost returns s in lower case when it is a host name that the URL
// parse and IDNA's lookup in hostOf would return unchanged but for case:
// ASCII letters, digits and hyphens in non-empty labels that neither
// start nor end with a hyphen nor hold one at their third and fourth
// bytes (which IDNA reserves, as in xn--), at most maxDomainLen bytes.
// Anything else (ok false) goes the long way. Most cells of a list are
// plain host names or addresses with one, and this saves the URL parse
// and the IDNA mapping for them.
func plainHost(s string) (h string, ok bool) {
	if s == "" || len(s) > maxDomainLen {
		return "", false
	}
	upper := false
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			l := s[start:i]
			if l == "" || l[0] == '-' || l[len(l)-1] == '-' || (len(l) >= 4 && l[2] == '-' && l[3] == '-') {
				return "", false
			}
			start = i + 1
			continue
		}
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case 'A' <= c && c <= 'Z':
			upper = true
		default:
			return "", false
		}
	}
	if upper {
		return strings.ToLower(s), true
	}
	return s, true
}

// plausibleDomain reports whether an ASCII domain has at least two labels, no
// empty or over-long label, a total length within DNS limits and a
// non-numeric top-level label (which also rules out IPv4 addresses).
func plausibleDomain(d string) bool {
	if len(d) > maxDomainLen || !strings.Contains(d, ".") {
		return false
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLen {
			return false
		}
	}
	tld := labels[len(labels)-1]
	return strings.ContainsFunc(tld, func(r rune) bool { return r < '0' || r > '9' })
}

// parseLoose parses a URL that may lack its scheme ("acme.com/about",
// "//acme.com"). It returns nil for empty input, unparsable input and
// schemes other than http and https.
func parseLoose(s string) *url.URL {
	s = trimSpace(s)
	if s == "" {
		return nil
	}
	switch i := strings.Index(s, "://"); {
	case strings.HasPrefix(s, "//"):
		s = "https:" + s
	case i < 0:
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	if sc := strings.ToLower(u.Scheme); sc != "http" && sc != "https" {
		return nil
	}
	return u
}

func isCompanyLinkedIn(u string) bool {
	return strings.HasPrefix(u, "https://www.linkedin.com/company/") ||
		strings.HasPrefix(u, "https://www.linkedin.com/school/") ||
		strings.HasPrefix(u, "https://www.linkedin.com/showcase/")
}

func isPersonLinkedIn(u string) bool {
	return strings.HasPrefix(u, "https://www.linkedin.com/in/") ||
		strings.HasPrefix(u, "https://www.linkedin.com/pub/")
}

// isMemberID reports whether a LinkedIn /in/ slug is an opaque member id
// (Sales Navigator and API exports use them), whose case matters.
func isMemberID(slug string) bool {
	return len(slug) >= 30 && (strings.HasPrefix(slug, "ACw") || strings.HasPrefix(slug, "AEM"))
}

// isBlank reports the white space and invisible characters that spreadsheet
// exports leave around values: Unicode spaces, a byte order mark, zero-width
// spaces and joiners.
func isBlank(r rune) bool {
	switch r {
	case '\ufeff', '\u200b', '\u200c', '\u200d', '\u2060':
		return true
	}
	return unicode.IsSpace(r)
}

func trimSpace(s string) string { return strings.TrimFunc(s, isBlank) }

// cleanText trims s and folds inner runs of white space into one space.
func cleanText(s string) string {
	s = trimSpace(s)
	if !strings.ContainsFunc(s, func(r rune) bool { return isBlank(r) && r != ' ' }) && !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if isBlank(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
