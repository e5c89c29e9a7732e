package customeros

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	retry := map[int]bool{408: true, 425: true, 429: true, 500: true, 502: true, 503: true, 504: true,
		507: true, 508: true, 520: true, 529: true}
	for _, st := range []int{200, 202, 204, 301, 307, 400, 401, 402, 403, 404, 405, 409, 410, 413, 422,
		408, 425, 429, 500, 501, 502, 503, 504, 505, 507, 508, 511, 520, 529, 530} {
		if got := Classify(st); got != retry[st] {
			t.Errorf("Classify(%d) = %v, want %v", st, got, retry[st])
		}
	}
}

func TestStatusSentinels(t *testing.T) {
	for st, want := range map[int]error{400: ErrBadRequest, 401: ErrUnauthorized, 402: ErrPaymentRequired,
		403: ErrForbidden, 404: ErrNotFound, 409: ErrBadRequest, 500: nil, 429: nil} {
		if got := statusErr(st); got != want {
			t.Errorf("statusErr(%d) = %v, want %v", st, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-3", 0}, {"7", 7 * time.Second}, {" 2 ", 2 * time.Second}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"999999999", 24 * time.Hour},
	} {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	risky := []string{ReasonRole}
	for _, tt := range []struct {
		valid    bool
		deliv    string
		catchAll bool
		reasons  []string
		want     Verdict
	}{
		{false, "", false, nil, Invalid},
		{false, "true", false, nil, Invalid},
		{true, "false", false, nil, Undeliverable},
		{true, "false", true, risky, Undeliverable},
		{true, "unknown", true, nil, CatchAll},
		{true, "unknown", false, risky, Unknown},
		{true, "", false, nil, Unknown},
		{true, "maybe", false, nil, Unknown},
		{true, "true", true, nil, Deliverable},
		{true, "true", true, risky, Risky},
		{true, "TRUE", false, risky, Risky},
		{true, "true", false, nil, Deliverable},
	} {
		if got := Normalize(tt.valid, tt.deliv, tt.catchAll, tt.reasons); got != tt.want {
			t.Errorf("Normalize(%v, %q, %v, %v) = %s, want %s", tt.valid, tt.deliv, tt.catchAll, tt.reasons, got, tt.want)
		}
	}
}

func TestRiskReasons(t *testing.T) {
	all := Risk{IsFirewalled: true, IsRoleMailbox: true, IsSystemGenerated: true, IsFreeProvider: true, IsMailboxFull: true}
	got := strings.Join(RiskReasons(Syntax{IsValid: true}, all), ",")
	if got != "free_provider,role,system_generated,firewalled,mailbox_full,not_primary_domain" {
		t.Errorf("reasons = %s", got)
	}
	if r := RiskReasons(Syntax{}, all); r != nil {
		t.Errorf("invalid syntax gave reasons %v", r)
	}
	if r := RiskReasons(Syntax{IsValid: true}, Risk{IsPrimaryDomain: true}); r != nil {
		t.Errorf("clean risk gave %v", r)
	}
}

func TestLegacyVerifyWithoutPrimaryFlag(t *testing.T) {
	// The earliest legacy bodies lack isSystemGenerated; an absent
	// isPrimaryDomain must not read as "not primary".
	v, err := decodeVerification([]byte(`{"status":"success","email":"a@b.com","deliverable":"true","risk":{},"syntax":{"isValid":true}}`))
	if err != nil || v.Verdict != Deliverable || v.Email != "a@b.com" {
		t.Fatalf("%v %+v", err, v)
	}
}

func TestErrorMessageShapes(t *testing.T) {
	for body, want := range map[string]string{
		`{"errors":[{"message":"Api key is required"}]}`:               "Api key is required",
		`{"errors":[{"message”":"Invalid api key"}]}`:                  "Invalid api key",
		`{"requestId":"x","status":"error","error":"Bad Request"}`:     "Bad Request",
		`{"status":"error","message":"Internal error"}`:                "Internal error",
		"<html><body>502 Bad Gateway</body></html>":                    "",
		"upstream connect error":                                       "upstream connect error",
		`{"requestId":"x","status":"error","error":"E","message":"M"}`: "M",
	} {
		if got := errorMessage([]byte(body)); got != want {
			t.Errorf("errorMessage(%s) = %q, want %q", body, got, want)
		}
	}
}

func TestResultID(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.customeros.ai/enrich/v1/person/results/550e8400-e29b": "550e8400-e29b",
		"http://127.0.0.1:9/enrich/v1/person/results/abc.123/":             "abc.123",
		"abc": "abc",
		"https://api.customeros.ai/enrich/v1/person/results/": "",
		"": "",
	} {
		got, err := ResultID(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ResultID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
