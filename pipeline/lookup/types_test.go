package lookup

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/contactbatch/batch/customeros"
)

// TestEncodeKeepsTheRawBody: a stored answer is valid JSON that decodes to
// the answer it was made from, with the raw body as it came (spaces at its
// ends aside), whatever the body holds.
func TestEncodeKeepsTheRawBody(t *testing.T) {
	for _, raw := range []string{
		`{"email":{"emailAddress":"a@b.co","deliverable":"true"},"requestId":"r1"}`,
		"\n  {\"a\": [1, 2, {\"b\": \"<script>&\\u2028\"}],\n \"c\": null}\n",
		`{"s":"caf\u00e9 \"quoted\" \\ back"}`,
		"",
	} {
		v := &customeros.Verification{Email: "a@b.co", Verdict: customeros.Deliverable, Raw: json.RawMessage(raw)}
		a, err := verifyAnswer("email:a@b.co", v, 7)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if !json.Valid(a.Stored.Data) {
			t.Fatalf("%q: stored data is not valid JSON: %s", raw, a.Stored.Data)
		}
		got, err := decodeAnswer(a.Stored)
		if err != nil {
			t.Fatalf("%q: decode: %v", raw, err)
		}
		if want := bytes.TrimSpace([]byte(raw)); !bytes.Equal(got.Data.Raw, want) && !(len(want) == 0 && len(got.Data.Raw) == 0) {
			t.Errorf("raw body %q came back as %q", want, got.Data.Raw)
		}
		if got.Data.For != 7 || got.Data.Origin != OriginCall || got.Verification() == nil || got.Verification().Email != "a@b.co" ||
			got.Verification().Verdict != customeros.Deliverable {
			t.Errorf("%q: decoded %+v, verification %+v", raw, got.Data, got.Verification())
		}
	}
}
