package customeros

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func verifySeeds(t testing.TB) [][]byte {
	seeds := [][]byte{
		[]byte(`{"status":"success","email":"a@b.com","deliverable":"true","risk":{},"syntax":{"isValid":true}}`),
		[]byte(`{"email":{"emailAddress":"a@b.com","deliverable":"false","risk":{"isPrimaryDomain":false},"syntax":{"isValid":true,"user":"a","domain":"b.com"}},"requestId":"r1","status":"success"}`),
		[]byte(`{"EMAIL":{"EmailAddress":"a@b.com","isRisky":true,"RISK":{"isFreeProvider":true},"syntax":{"isvalid":true}},"status":"x"}`),
		[]byte(`{"email":{"emailAddress":"x@y.z"},"email":"legacy@y.z","deliverable":"true","syntax":{"isValid":true}}`),
		[]byte(`{"email":"legacy@y.z","email":{"emailAddress":"x@y.z","syntax":{"isValid":true}}}`),
		[]byte(`{"email":null,"emailAddress":"top@y.z","deliverable":"unknown"}`),
		[]byte(`{"email":5,"deliverable":"true"}`),
		[]byte(`{"email":[1],"deliverable":"true"}`),
		[]byte(`{"email":{"emailAddress":1},"deliverable":"true"}`),
		[]byte(`{"email":{"emailAddress":"a@b"},"deliverable":1,"syntax":{"isValid":true}}`),
		[]byte(`{"email":"a@b","deliverable":1}`),
		[]byte(`{"status":1,"email":"a@b"}`),
		[]byte(`{"status":null,"email":"a@b","isRisky":null,"risk":null,"syntax":null}`),
		[]byte(`{"email":"a@b","risk":{"isPrimaryDomain":true},"risk":{"isPrimaryDomain":null,"isFirewalled":true},"syntax":{"isValid":true}}`),
		[]byte(`{"email":"\u00e9t\u00e9@b.com","provider":"g\"mail\\","syntax":{"isValid":true,"user":"\ud83d\ude00\ud800"}}`),
		[]byte("{\"email\":\"caf\xc3\xa9@b.com\",\"provider\":\"bad\xff\",\"syntax\":{\"isValid\":true}}"),
		[]byte(`{"\u0065mail":"esc@b.com","ſtatus":"ok","deliverable":"true"}`),
		[]byte(`{"email":"a@b","syntax":{"isValid":true},"extra":[1,-2.5e+3,{"x":[true,false,null]},"s"],"n":0.1E-2}`),
		[]byte(`{"email":"a@b","syntax":{"isValid":"true"}}`),
		[]byte(`{"email":"a@b","syntax":[true]}`),
		[]byte(`null`), []byte(`[]`), []byte(`"x"`), []byte(`{}`), []byte(` {"status":"s"} `),
		[]byte(`{"email":"a@b"`), []byte(`{"email":"a@b"}}`), []byte(`{"email":"a@b",}`), []byte(`{"n":01}`),
		[]byte(`{"n":1.}`), []byte(`{"n":-}`), []byte(`{"s":"\x"}`), []byte("{\"s\":\"a\tb\"}"), []byte(`{"t":tru}`),
		[]byte(``), []byte(`{"email":{"emailAddress":"a@b"` + strings.Repeat(`,"k":[`, 3) + `]]]}}`),
		[]byte(strings.Repeat("[", maxNestingDepth) + strings.Repeat("]", maxNestingDepth)),
		[]byte(`{"a":` + strings.Repeat("[", maxNestingDepth) + strings.Repeat("]", maxNestingDepth) + `}`),
		[]byte("\ufeff{}"),
	}
	for _, name := range []string{"verify_current.json", "verify_legacy.json", "verify_invalid.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// checkSameVerification fails unless decodeVerification (the library) agrees
// with the hand-written reference on body: same validity verdict (invalid JSON wraps
// errTruncated, so the client retries it), same error or not, same result.
func checkSameVerification(t *testing.T, body []byte) {
	t.Helper()
	got, err := decodeVerification(bytes.Clone(body))
	if !json.Valid(body) {
		if err == nil || !errors.Is(err, errTruncated) {
			t.Fatalf("invalid JSON %q: got %v, %+v; want an errTruncated error", body, err, got)
		}
		return
	}
	if errors.Is(err, errTruncated) {
		t.Fatalf("valid JSON %q reported invalid: %v", body, err)
	}
	want, wantErr := refDecodeVerification(body)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, reference error %v", body, err, wantErr)
	}
	if err != nil {
		if !errors.Is(err, ErrBadResponse) {
			t.Fatalf("%q: error %v does not wrap ErrBadResponse", body, err)
		}
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%q: (-reference +got):\n%s", body, diff)
	}
}

func TestDecodeVerificationMatchesReference(t *testing.T) {
	for _, body := range verifySeeds(t) {
		checkSameVerification(t, body)
	}
}

func FuzzDecodeVerification(f *testing.F) {
	for _, b := range verifySeeds(f) {
		f.Add(b)
	}
	f.Fuzz(checkSameVerification)
}

// TestRawIsACopy: the body buffer is reused after decoding.
func TestRawIsACopy(t *testing.T) {
	for _, body := range []string{
		`{"email":{"emailAddress":"a@b.com","syntax":{"isValid":true}},"status":"success"}`,
		`{"email":"a@b.com","syntax":{"isValid":true},"status":"success"}`,
	} {
		buf := []byte(body)
		v, err := decodeVerification(buf)
		if err != nil {
			t.Fatal(err)
		}
		raw := string(v.Raw)
		for i := range buf {
			buf[i] = 'x'
		}
		if string(v.Raw) != raw || v.Email != "a@b.com" {
			t.Errorf("Raw or Email alias the body: %q %q", v.Raw, v.Email)
		}
	}
}

func TestAPIKeyHeaderCanonical(t *testing.T) {
	if got := http.CanonicalHeaderKey(APIKeyHeader); got != apiKeyHeaderCanonical {
		t.Fatalf("canonical %q, const %q", got, apiKeyHeaderCanonical)
	}
}

func TestEndpointIndex(t *testing.T) {
	eps := Endpoints()
	if len(eps) != numEndpoints {
		t.Fatalf("numEndpoints %d, Endpoints() has %d", numEndpoints, len(eps))
	}
	for i, ep := range eps {
		if endpointIndex(ep) != i {
			t.Errorf("endpointIndex(%s) = %d, want %d", ep, endpointIndex(ep), i)
		}
	}
	if endpointIndex("nope") != -1 {
		t.Error("unknown endpoint has an index")
	}
}

func TestReadBodyLimit(t *testing.T) {
	for _, tt := range []struct {
		size, limit int
		start       []byte
	}{
		{0, 10, nil}, {10, 10, nil}, {11, 10, nil}, {5000, 10, nil}, {5000, 8000, nil},
		{3, 10, make([]byte, 0, 3)}, {4, 3, make([]byte, 0, 4)}, {2000, 4000, make([]byte, 0, 1024)},
	} {
		body := bytes.Repeat([]byte("a"), tt.size)
		got, err := readBody(bytes.NewReader(body), tt.start, int64(tt.limit))
		want := min(tt.size, tt.limit+1)
		if err != nil || len(got) != want {
			t.Errorf("size %d limit %d: got %d bytes, %v; want %d", tt.size, tt.limit, len(got), err, want)
		}
	}
	_, err := readBody(errReader{}, nil, 10)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("read error lost: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("boom") }
