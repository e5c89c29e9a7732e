package customeros

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodePerson: any body and status decode without panicking, and a
// decoded answer marshals back to JSON (what the ledger stores).
func FuzzDecodePerson(f *testing.F) {
	for _, s := range []string{`{"status":"success","data":{"id":"p1","name":{"firstName":"Ann"},"emails":[{"email":"a@b.com"}],"jobs":[{"title":"CTO","isCurrent":true}]}}`,
		`{"status":"warning","message":"not found"}`, `{"status":"success","data":{"resultUrl":"https://api/x/1"}}`, `{"data":null}`, `[]`, `{`, `null`,
		`{"status":"success","data":{"jobs":[{"duration":{"startYear":"x"}}]}}`} {
		f.Add([]byte(s), 200)
		f.Add([]byte(s), 202)
	}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		p, err := decodePerson(body, status)
		if err != nil || p == nil {
			return
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("decoded person does not marshal: %v", err)
		}
	})
}

// FuzzDecodeOrganization: as FuzzDecodePerson, for organizations.
func FuzzDecodeOrganization(f *testing.F) {
	for _, s := range []string{`{"status":"success","data":{"name":"Acme","domain":"acme.com","employees":12,"socials":["https://x"]}}`,
		`{"status":"warning","message":"organization not found"}`, `{"data":{"employees":1e400}}`, `{"data":[]}`, ``, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := decodeOrganization(body)
		if err != nil || o == nil {
			return
		}
		if _, err := json.Marshal(o); err != nil {
			t.Fatalf("decoded organization does not marshal: %v", err)
		}
	})
}

// FuzzErrorMessage: the message taken from an error body is one line of
// valid UTF-8, bounded, whatever the body.
func FuzzErrorMessage(f *testing.F) {
	for _, s := range []string{`{"message":"bad request"}`, `{"error":"x"}`, `{"errors":[{"detail":"d"}]}`, "plain text\nerror", "<html>502</html>", "\xff\xfe", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m := errorMessage(body)
		if len(m) > 200+len("…") {
			t.Fatalf("message of %d bytes", len(m))
		}
		for _, r := range m {
			if r == '\n' || r == '\r' {
				t.Fatalf("message %q spans lines", m)
			}
		}
		if !utf8.ValidString(m) && utf8.Valid(body) {
			t.Fatalf("message %q is not valid UTF-8", m)
		}
	})
}

// FuzzParseRetryAfter: never negative, at most a day for delay-seconds,
// and exact for small integers and HTTP dates in the future.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"0", "1", " 30 ", "-5", "86401", "99999999999999999999", "1.5", now.Add(90 * time.Second).Format(http.TimeFormat),
		"Tue, 01 Dec 2026 11:00:00 GMT", "Tuesday, 01-Dec-26 12:01:00 GMT", "Tue Dec  1 12:02:00 2026", "soon", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v", v, d)
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			want := time.Duration(min(max(n, 0), 86400)) * time.Second
			if d != want {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", v, d, want)
			}
		}
	})
}
