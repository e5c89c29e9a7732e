package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// runWithCacheHome runs the binary with XDG_CACHE_HOME set to home (the
// last value of a variable wins in the child's environment).
func runWithCacheHome(t *testing.T, url, home string, args ...string) result {
	t.Helper()
	cmd := batchCmd(t, url, args...)
	cmd.Env = append(cmd.Env, "XDG_CACHE_HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{code: exitStatus(t, err), stdout: out.String(), stderr: errb.String()}
}

// TestPaceRemembered: a run against a rate-limited API leaves its estimate
// of the limit under the user cache directory (no key in it), and a cache
// directory that cannot be written changes nothing but a warning.
func TestPaceRemembered(t *testing.T) {
	opts := sandbox.DefaultOptions()
	opts.RateLimit = 50
	em := startEmulator(t, opts)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	contactsCSV(t, in, 200, 0, 0, 3)
	home := filepath.Join(dir, "cache")
	for i, out := range []string{"a.csv", "b.csv"} {
		r := runWithCacheHome(t, em.URL, home, "run", "-i", in, "-o", filepath.Join(dir, out), "--verify", "--no-cache", "--progress", "none")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
		files, err := filepath.Glob(filepath.Join(home, "batch", "pace", "*.json"))
		if err != nil || len(files) != 1 {
			t.Fatalf("run %d: pace memory files %v (%v), want one", i+1, files, err)
		}
		b := readFile(t, files[0])
		if strings.Contains(string(b), "test-key") {
			t.Errorf("the API key is in the pace memory")
		}
		var m paceMemory
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if p := m.Families["verify"]; !p.Limited || p.Rate <= 0 {
			t.Errorf("run %d: remembered verify pace %+v, want an estimate of the limit", i+1, p)
		}
	}

	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	em2 := startEmulator(t, sandbox.DefaultOptions())
	r := runWithCacheHome(t, em2.URL, notADir, "run", "-i", in, "-o", filepath.Join(dir, "c.csv"), "--verify", "--no-cache", "--progress", "none")
	if r.code != 0 || !strings.Contains(r.stderr, "remember the pace") {
		t.Errorf("run with an unwritable cache directory: exit %d, stderr:\n%s\nwant exit 0 and a warning", r.code, r.stderr)
	}
}
