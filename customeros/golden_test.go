package customeros_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/contactbatch/batch/customeros"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// serveFile answers every request with the file's content.
func serveFile(t *testing.T, name string, status int, ctype string) *customeros.Client {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return customeros.New(srv.URL, "test-key")
}

// leaves flattens a JSON value into path → scalar text, skipping zero
// values (which carry no information to lose).
func leaves(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			leaves(prefix+"."+k, e, out)
		}
	case []any:
		for i, e := range x {
			leaves(prefix+"["+strconv.Itoa(i)+"]", e, out)
		}
	case string:
		if x != "" {
			out[prefix] = x
		}
	case float64:
		if x != 0 {
			out[prefix] = strconv.FormatFloat(x, 'f', -1, 64)
		}
	case bool:
		if x {
			out[prefix] = "true"
		}
	}
}

// checkLossless fails if a non-zero scalar of the input is not found among
// the scalars of the decoded result, apart from the listed paths (matched
// by suffix, indexes removed).
func checkLossless(t *testing.T, input []byte, decoded any, ignore ...string) {
	t.Helper()
	var in any
	if err := json.Unmarshal(input, &in); err != nil {
		t.Fatal(err)
	}
	outJSON, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	_ = json.Unmarshal(outJSON, &out)
	inLeaves, outLeaves := map[string]string{}, map[string]string{}
	leaves("", in, inLeaves)
	leaves("", out, outLeaves)
	have := map[string]bool{}
	for _, v := range outLeaves {
		have[v] = true
	}
	var missing []string
next:
	for path, v := range inLeaves {
		bare := path
		for strings.Contains(bare, "[") {
			i, j := strings.IndexByte(bare, '['), strings.IndexByte(bare, ']')
			bare = bare[:i] + bare[j+1:]
		}
		for _, ig := range ignore {
			if strings.HasSuffix(bare, ig) {
				continue next
			}
		}
		if !have[v] {
			missing = append(missing, path+"="+v)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("values lost in decoding: %v", missing)
	}
}

func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// roundTrip checks that the result survives JSON (Raw excluded).
func roundTrip[T any](t *testing.T, v *T) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	data2, _ := json.Marshal(&back)
	if string(data) != string(data2) {
		t.Errorf("round trip changed the value:\n%s\n%s", data, data2)
	}
	if diff := cmp.Diff(v, &back, cmp.FilterPath(func(p cmp.Path) bool {
		return strings.HasSuffix(p.String(), "Raw")
	}, cmp.Ignore())); diff != "" {
		t.Errorf("round trip (-orig +back):\n%s", diff)
	}
}

func TestGoldenVendorExamples(t *testing.T) {
	ctx := context.Background()
	const jsonCT = "application/json"
	tests := []struct {
		file   string
		status int
		ignore []string // input paths deliberately not kept (see comments)
		call   func(c *customeros.Client) (any, error)
	}{
		// status is implied by the result (Found / no error); isRisky is
		// recomputed and the server's value is kept as reported_risky.
		{"verify_current.json", 200, []string{".status"}, func(c *customeros.Client) (any, error) {
			return c.VerifyEmail(ctx, "example@example.com")
		}},
		{"verify_legacy.json", 200, []string{".status"}, func(c *customeros.Client) (any, error) {
			return c.VerifyEmail(ctx, "example@example.com")
		}},
		{"verify_invalid.json", 200, []string{".status"}, func(c *customeros.Client) (any, error) {
			return c.VerifyEmail(ctx, "not-an-email")
		}},
		// phoneNumbers[].type is always "mobile" (CONTRACT §2.1).
		{"person_complete.json", 200, []string{".status", ".phoneNumbers.type"}, func(c *customeros.Client) (any, error) {
			return c.EnrichPerson(ctx, customeros.PersonQuery{Email: "john.doe@example.com"})
		}},
		{"person_202.json", 202, []string{".status"}, func(c *customeros.Client) (any, error) {
			return c.EnrichPerson(ctx, customeros.PersonQuery{LinkedInURL: "https://linkedin.com/in/john-doe"})
		}},
		{"person_notfound.json", 404, []string{".status"}, func(c *customeros.Client) (any, error) {
			return c.EnrichPerson(ctx, customeros.PersonQuery{Email: "nobody@example.com"})
		}},
		{"organization.json", 200, []string{".status"}, func(c *customeros.Client) (any, error) {
			return c.EnrichOrganization(ctx, customeros.OrganizationQuery{Domain: "acme.com"})
		}},
		// estimatedCompletionTs becomes a time (checked by the golden file).
		{"bulk_upload.json", 200, []string{".status", ".requestId", ".estimatedCompletionTs"}, func(c *customeros.Client) (any, error) {
			return c.SubmitBulkVerify(ctx, []string{"a@example.com"})
		}},
		{"bulk_status.json", 200, []string{".status", ".estimatedCompletionTs"}, func(c *customeros.Client) (any, error) {
			return c.BulkVerifyStatus(ctx, "550e8400-e29b-41d4-a716-446655440000")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := serveFile(t, tt.file, tt.status, jsonCT)
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			input, _ := os.ReadFile(filepath.Join("testdata", tt.file))
			checkLossless(t, input, got, tt.ignore...)
			checkGolden(t, strings.TrimSuffix(tt.file, ".json"), got)
			switch v := got.(type) {
			case *customeros.Verification:
				roundTrip(t, v)
			case *customeros.PersonResult:
				roundTrip(t, v)
			case *customeros.OrganizationResult:
				roundTrip(t, v)
			case *customeros.BulkJob:
				roundTrip(t, v)
			case *customeros.BulkStatus:
				roundTrip(t, v)
			}
		})
	}
}

func TestGoldenBulkCSV(t *testing.T) {
	c := serveFile(t, "bulk_results.csv", 200, "text/csv")
	got, err := c.DownloadBulkVerify(context.Background(), "job-1")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "bulk_results", got)
	f, _ := os.Open(filepath.Join("testdata", "bulk_results.csv"))
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs)-1 {
		t.Fatalf("got %d verifications, want %d", len(got), len(recs)-1)
	}
	for i := range got {
		roundTrip(t, &got[i])
		// Every cell is in the Raw object, by column name (#2 for the repeat).
		var raw map[string]string
		if err := json.Unmarshal(got[i].Raw, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) != len(recs[0]) || raw["TLSRequired#2"] != recs[i+1][22] {
			t.Errorf("row %d: raw has %d columns (want %d), TLSRequired#2=%q", i, len(raw), len(recs[0]), raw["TLSRequired#2"])
		}
		row := map[string]any{}
		for j, cell := range recs[i+1] {
			name := recs[0][j] + "#" + strconv.Itoa(j)
			switch cell {
			case "true", "false":
				row[name] = cell == "true"
			default:
				row[name] = cell
			}
		}
		input, _ := json.Marshal(row)
		checkLossless(t, input, got[i])
	}
}
