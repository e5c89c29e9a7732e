package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactbatch/batch/customeros/sandbox"
	"github.com/contactbatch/batch/internal/s3test"
)

// runIn runs the binary in dir (so a default .batch-state lands there)
// with env overriding batchCmd's environment.
func runIn(t *testing.T, dir, url string, env []string, args ...string) result {
	t.Helper()
	cmd := batchCmd(t, url, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return result{exitStatus(t, cmd.Run()), out.String(), errb.String()}
}

// withoutEnv drops the variables named in names from env.
func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFile runs jobs from YAML files: kebab-case and snake_case keys
// set their flags, the environment overrides the file, and an unknown key
// is refused with the nearest flag suggested.
func TestConfigFile(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 40, 0, 0, 71)

	t.Run("kebab keys, api-url from the file", func(t *testing.T) {
		out := filepath.Join(dir, "kebab.csv")
		cfg := writeFile(t, filepath.Join(dir, "kebab.yaml"), "verify: true\nenrich-org: true\nno-cache: true\napi-url: "+em.URL+"\nprogress: none\nworkers: 2\n")
		before := em.Counters()
		cmd := batchCmd(t, em.URL, "run", "--config", cfg, "-i", in, "-o", out)
		cmd.Env = withoutEnv(cmd.Env, "CUSTOMEROS_API_URL")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		after := em.Counters()
		if after.Sent(sandbox.EpVerify) == before.Sent(sandbox.EpVerify) || after.Sent(sandbox.EpOrganization) == before.Sent(sandbox.EpOrganization) {
			t.Error("verify and enrich-org from the file made no calls to the file's api-url")
		}
		head, _, _ := bytes.Cut(readFile(t, out), []byte("\n"))
		if !bytes.Contains(head, []byte("email_verdict")) || !bytes.Contains(head, []byte("org_name")) {
			t.Errorf("output header lacks the stages' columns: %s", head)
		}
	})
	t.Run("snake keys; the environment overrides the file", func(t *testing.T) {
		out := filepath.Join(dir, "snake.csv")
		// The file names a dead port; CUSTOMEROS_API_URL (the emulator) wins.
		cfg := writeFile(t, filepath.Join(dir, "snake.yaml"), "enrich_person: true\nno_cache: true\napi_url: http://127.0.0.1:1\nprogress: none\n")
		before := em.requests(sandbox.EpPerson)
		mustRun(t, em.URL, "run", "--config", cfg, "-i", in, "-o", out)
		if em.requests(sandbox.EpPerson) == before {
			t.Error("enrich_person from the file made no calls to CUSTOMEROS_API_URL")
		}
	})
	t.Run("command line wins over the file", func(t *testing.T) {
		out := filepath.Join(dir, "flags.csv")
		cfg := writeFile(t, filepath.Join(dir, "flags.yaml"), "verify: true\nno-cache: true\nprogress: none\nworkers: 0\n")
		mustRun(t, em.URL, "run", "--config", cfg, "-i", in, "-o", out, "--workers", "3")
	})
	for _, tc := range []struct{ yaml, key, suggest string }{
		{"verfy: true\n", `"verfy"`, "--verify"},
		{"verify: true\nenrich-orgs: true\n", `"enrich-orgs"`, "--enrich-org"},
		{"verify: true\napi_ur: http://127.0.0.1:1\n", `"api_ur"`, "--api-url"},
	} {
		t.Run("unknown key "+tc.key, func(t *testing.T) {
			work := t.TempDir()
			cfg := writeFile(t, filepath.Join(work, "job.yaml"), tc.yaml)
			before := em.Counters().Total
			r := runIn(t, work, em.URL, nil, "run", "--config", cfg, "-i", in, "-o", filepath.Join(work, "out.csv"), "--no-cache")
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.key) || !strings.Contains(r.stderr, tc.suggest) {
				t.Errorf("exit %d, want %d naming %s and suggesting %s\n%s", r.code, ExitUsage, tc.key, tc.suggest, r.stderr)
			}
			if n := em.Counters().Total - before; n != 0 {
				t.Errorf("%d calls made with a bad config", n)
			}
			assertNoState(t, work)
		})
	}
}

// assertNoState fails if a run left a state directory in dir.
func assertNoState(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && (strings.HasSuffix(e.Name(), ".state") || e.Name() == ".batch-state") {
			t.Errorf("a refused run left %s behind", e.Name())
		}
	}
}

// TestRefusedStarts checks that every usage or input error exits 2 with a
// message naming the problem, makes no API call and leaves no state.
func TestRefusedStarts(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	s3 := s3test.Start(t, "exists")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	contactsCSV(t, good, 20, 0, 0, 81)
	noEmail := writeFile(t, filepath.Join(dir, "kontakt.csv"), "Kontakt,Name,Firma\nanna@firma.de,Anna,Firma GmbH\n")
	nameOnly := writeFile(t, filepath.Join(dir, "names.csv"), "Name,Company\nAnna,Firma GmbH\n")
	inDir := filepath.Join(dir, "adir")
	if err := os.Mkdir(inDir, 0o755); err != nil {
		t.Fatal(err)
	}
	aFile := writeFile(t, filepath.Join(dir, "afile"), "x")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"map names no column", []string{"--verify", "-i", good, "--map", "Mail=email"}, []string{`"Mail"`, "no such column"}},
		{"map names no field", []string{"--verify", "-i", good, "--map", "Email=e-post"}, []string{`"e-post"`, "unknown field"}},
		{"map without =", []string{"--verify", "-i", good, "--map", "Email"}, []string{"--map"}},
		{"directory as input", []string{"--verify", "-i", inDir}, []string{"is a directory"}},
		{"unsupported output name", []string{"--verify", "-i", good, "-o", filepath.Join(dir, "out.txt")}, []string{"out.txt", "unsupported output format"}},
		{"verify without an email column", []string{"--verify", "-i", noEmail}, []string{"--verify", "email", `"Kontakt"`, `"Firma"`, "--map"}},
		{"enrich-person without email or linkedin", []string{"--enrich-person", "-i", noEmail}, []string{"--enrich-person", "email", "linkedin_url"}},
		{"enrich-org without domain, website, company linkedin or email", []string{"--enrich-org", "-i", nameOnly}, []string{"--enrich-org", "domain", "website", "company_linkedin_url", "email"}},
		{"cache-ttl unknown verdict", []string{"--verify", "-i", good, "--cache-ttl", "deliverabel=30d"}, []string{`"deliverabel"`, "deliverable"}},
		{"cache-ttl bad duration", []string{"--verify", "-i", good, "--cache-ttl", "unknown=soon"}, []string{"--cache-ttl", "soon"}},
		{"state is a file", []string{"--verify", "-i", good, "--state", aFile}, []string{"not a directory"}},
		// A database output that cannot be reached is a resumable stop, not a
		// refusal: TestSharedServiceUnreachable.
		{"S3 input missing", []string{"--verify", "-i", s3.URL("exists", "nope.csv")}, []string{"nope.csv"}},
		{"S3 bucket missing", []string{"--verify", "-i", good, "-o", s3.URL("missing", "out.csv")}, []string{"cannot be written", "before any paid call"}},
		{"unknown flag", []string{"--verfy", "-i", good}, []string{"--verfy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			args := append([]string{"run", "--no-cache", "--progress", "none"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), " -o ") && tt.args[0] != "-o" {
				args = append(args, "-o", filepath.Join(work, "out.csv"))
			}
			before := em.Counters().Total
			r := runIn(t, work, em.URL, nil, args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want %d\n%s", r.code, ExitUsage, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if n := em.Counters().Total - before; n != 0 {
				t.Errorf("%d API calls made by a refused run", n)
			}
			assertNoState(t, work)
			if _, err := os.Stat(filepath.Join(work, "out.csv.partial")); err == nil {
				t.Error("a refused run left out.csv.partial")
			}
		})
	}
	t.Run("S3 output is proven writable, and the probe removed", func(t *testing.T) {
		work := t.TempDir()
		mustRun(t, em.URL, "run", "--no-cache", "--progress", "none", "--verify", "-i", good, "-o", s3.URL("exists", "res/out.csv"), "--state", filepath.Join(work, "st"))
		if got := s3.Get(t, "exists", "res/out.csv"); bytes.Count(got, []byte("\n")) != 21 {
			t.Errorf("S3 output has %d lines, want 21", bytes.Count(got, []byte("\n")))
		}
		if ok, err := s3.Bucket(t, "exists").Exists(context.Background(), "res/out.csv.batch-probe"); err != nil || ok {
			t.Error("the write probe was left in the bucket")
		}
	})
	t.Run("cache-ttl in days is accepted", func(t *testing.T) {
		work := t.TempDir()
		mustRun(t, em.URL, "run", "--progress", "none", "--verify", "-i", good, "-o", filepath.Join(work, "out.csv"),
			"--cache", filepath.Join(work, "cache.db"), "--cache-ttl", "deliverable=30d,unknown=1.5d,default=1d12h")
	})
}

// TestLocalChecksOnly runs without a stage flag: no call, one line saying so.
func TestLocalChecksOnly(t *testing.T) {
	em := startEmulator(t, sandbox.DefaultOptions())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 30, 0, 5, 91)
	r := mustRun(t, em.URL, "run", "-i", in, "-o", filepath.Join(dir, "out.csv"), "--no-cache", "--progress", "none")
	if n := strings.Count(r.stderr, "local checks only"); n != 1 {
		t.Errorf("%d lines say local checks only, want 1:\n%s", n, r.stderr)
	}
	if em.Counters().Total != 0 {
		t.Errorf("%d API calls without a stage flag", em.Counters().Total)
	}
	if got := lineCount(t, filepath.Join(dir, "out.csv")); got != 31 {
		t.Errorf("output lines = %d, want 31", got)
	}
}

// TestAuthMessages checks that 401 and 403 say what to do.
func TestAuthMessages(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 10, 0, 0, 93)
	opts := sandbox.DefaultOptions()
	opts.APIKey = "another-key"
	em := startEmulator(t, opts)
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":[{"message":"Forbidden"}]}`))
	}))
	t.Cleanup(forbidden.Close)
	for _, tc := range []struct{ name, url, code string }{{"401", em.URL, "401"}, {"403", forbidden.URL, "403"}} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBatch(t, tc.url, "run", "-i", in, "-o", filepath.Join(dir, tc.name+".csv"), "--verify", "--no-cache", "--progress", "none")
			if r.code != ExitResumable {
				t.Fatalf("exit %d, want %d\n%s", r.code, ExitResumable, r.stderr)
			}
			for _, w := range []string{"check CUSTOMEROS_API_KEY or --api-key-file", "(" + tc.code + ")"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestVersion checks that --version prints the version and the commit the
// Makefile stamps.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "batch")
	const commit = "0123456789abcdef0123456789abcdef01234567"
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.commit="+commit, "-o", bin, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); !strings.HasPrefix(s, "batch ") || !strings.Contains(s, "commit "+commit[:12]) {
		t.Errorf("--version printed %q, want the version and commit %s", s, commit[:12])
	}
	out, err = exec.Command(binPath, "--version").Output()
	if err != nil || !strings.Contains(string(out), "commit ") {
		t.Errorf("--version of the test binary: %q, %v", out, err)
	}
}
