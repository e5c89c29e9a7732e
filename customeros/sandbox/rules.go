package sandbox

import (
	"encoding/binary"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// hash64 hashes its parts (FNV-1a, parts separated by NUL).
func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	// FNV alone mixes the last bytes poorly into the high bits that unit
	// uses: finish with the murmur3 avalanche.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

func seedStr(seed int64) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	return string(b[:])
}

var freeProviders = map[string]string{
	"gmail.com": "gmail", "yahoo.com": "yahoo", "hotmail.com": "microsoft", "outlook.com": "microsoft",
}

var roleLocals = map[string]bool{"info": true, "sales": true, "admin": true, "support": true}

// verdict is the sandbox's deterministic verification of one address.
type verdict struct {
	Email, User, Domain         string
	Valid                       bool
	Deliverable                 string // "true" | "false" | "unknown" | "" (invalid syntax)
	Provider, Gateway, AltEmail string
	CatchAll                    bool
	Firewalled, Role, System    bool
	Free, MailboxFull, Primary  bool
}

func (v verdict) risky() bool {
	return v.Firewalled || v.Role || v.System || v.Free || v.MailboxFull || !v.Primary
}

// billable: verification is billed when deliverable is not "unknown" (and
// not for invalid syntax).
func (v verdict) billable() bool { return v.Valid && v.Deliverable != "unknown" }

// verifyAddress applies the documented rules (see the package doc).
func verifyAddress(addr string) verdict {
	v := verdict{Email: addr}
	a := strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(a, '@')
	if at >= 0 {
		v.User, v.Domain = addr[:min(at, len(addr))], a[at+1:]
		v.User = strings.TrimSpace(v.User)
	}
	local := ""
	if at >= 0 {
		local = a[:at]
	}
	if !validSyntax(a) {
		return v
	}
	v.Valid, v.Primary = true, true
	d := v.Domain
	if p, ok := freeProviders[d]; ok {
		v.Free, v.Provider = true, p
	} else {
		v.Provider = []string{"google workspace", "microsoft", "other"}[hash64("provider", d)%3]
	}
	v.Role = roleLocals[local]
	v.System = hasAnyPrefix(local, "noreply", "no-reply", "donotreply", "bounce")
	if hasAnyPrefix(d, "firewalled", "secure") {
		v.Firewalled, v.Gateway = true, "Proofpoint"
	}
	if strings.HasPrefix(d, "alias") {
		v.Primary = false
		if pd := strings.TrimLeft(strings.TrimPrefix(d, "alias"), "-."); strings.Contains(pd, ".") {
			v.AltEmail = local + "@" + pd
		}
	}
	v.MailboxFull = hasAnyPrefix(local, "full", "mailboxfull")
	v.CatchAll = strings.HasPrefix(d, "catchall")
	switch {
	case hasAnyPrefix(local, "bounce", "invalid"), v.MailboxFull:
		v.Deliverable = "false"
	case hasAnyPrefix(local, "unknown"), strings.HasPrefix(d, "unknown"):
		v.Deliverable = "unknown"
	case strings.HasPrefix(local, "valid"):
		v.Deliverable = "true"
	case v.CatchAll:
		v.Deliverable = "unknown"
	default:
		switch h := hash64(a) % 100; {
		case h < 80:
			v.Deliverable = "true"
		case h < 92:
			v.Deliverable = "false"
		default:
			v.Deliverable = "unknown"
		}
	}
	return v
}

func validSyntax(a string) bool {
	if strings.Count(a, "@") != 1 || strings.ContainsAny(a, " \t\r\n,;<>()[]\\\"") {
		return false
	}
	local, domain, _ := strings.Cut(a, "@")
	if local == "" || len(local) > 64 || domain == "" || !strings.Contains(domain, ".") {
		return false
	}
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") ||
		strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return false
	}
	return true
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// slug returns the last path segment of a URL-ish string, lower-cased.
func slug(raw string) string {
	s := strings.ToLower(strings.TrimSpace(raw))
	if u, err := url.Parse(s); err == nil && u.Path != "" {
		s = u.Path
	}
	s = strings.Trim(s, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func titleWord(w string) string {
	r := []rune(w)
	if len(r) == 0 {
		return ""
	}
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// namesFrom derives first and last names from "jane.doe" / "jane-doe-123".
func namesFrom(s string) (first, last string) {
	var toks []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' }) {
		if strings.Trim(t, "0123456789") != "" {
			toks = append(toks, t)
		}
	}
	if len(toks) == 0 {
		return "", ""
	}
	first = titleWord(toks[0])
	if len(toks) > 1 {
		last = titleWord(toks[len(toks)-1])
	}
	return first, last
}

// companyName derives "Acme Corp" from "acme-corp.com".
func companyName(domain string) string {
	label, _, _ := strings.Cut(domain, ".")
	var out []string
	for _, w := range strings.Split(label, "-") {
		out = append(out, titleWord(w))
	}
	return strings.Join(out, " ")
}

var (
	companies  = []string{"acme.com", "globex.com", "initech.com", "umbrella.com", "hooli.com"}
	titles     = []string{"Software Engineer", "Head of Sales", "Marketing Manager", "CTO", "Account Executive"}
	regions    = []string{"San Francisco Bay Area", "Greater London", "Berlin, Germany", "New York City Metropolitan Area", "Paris, Île-de-France"}
	industries = []string{"Technology", "Manufacturing", "Retail", "Financial Services", "Healthcare"}
	countries  = []struct{ name, code, city, region string }{
		{"United States", "US", "San Francisco", "California"},
		{"United Kingdom", "GB", "London", "England"},
		{"Germany", "DE", "Berlin", "Berlin"},
		{"France", "FR", "Paris", "Île-de-France"},
	}
)

func pick[T any](list []T, h uint64) T { return list[h%uint64(len(list))] }

func digits(h uint64, n int) string {
	s := strconv.FormatUint(h, 10)
	for len(s) < n {
		s = "0" + s
	}
	return s[len(s)-n:]
}
