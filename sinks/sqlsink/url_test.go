package sqlsink_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactbatch/batch/sinks/sqlsink"
)

func TestSQLiteURL(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		url  string
		file string // the file that must exist afterwards
	}{
		{"relative", "sqlite://sub/rel.db", filepath.Join(dir, "sub", "rel.db")},
		{"absolute", "sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db")},
		{"odd characters", "sqlite://sub/a b?c#d%20e.db", filepath.Join(dir, "sub", "a b?c#d%20e.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlsink.Open(context.Background(), tt.url, sqlsink.Options{JobID: "j", Schema: testSchema}, "")
			if err != nil {
				t.Fatalf("Open(%q) = %v", tt.url, err)
			}
			write(t, s, output(0, ""))
			closeSink(t, s)
			if _, err := os.Stat(tt.file); err != nil {
				t.Errorf("Open(%q): %v", tt.url, err)
			}
		})
	}
}

func TestPostgresURLSecret(t *testing.T) {
	const secret = "SeCrEt-pw"
	for _, url := range []string{
		"postgres://postgres:" + secret + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		"postgresql://postgres:" + secret + "@127.0.0.1:1/test?sslmode=bogus",
		"postgres://postgres:" + secret + "@[::1/test",
	} {
		_, err := sqlsink.Open(context.Background(), url, sqlsink.Options{JobID: "j", Schema: testSchema, Retries: -1}, "")
		if err == nil {
			t.Fatalf("Open(%q) = nil, want an error", url)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error shows the password: %v", err)
		}
		if errors.Is(err, sqlsink.ErrNewerSchema) {
			t.Errorf("Open(%q) = %v", url, err)
		}
	}
}
