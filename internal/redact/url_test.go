package redact_test

import (
	"testing"

	"github.com/contactbatch/batch/internal/redact"
)

func TestURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"out.csv", "out.csv"},
		{"-", "-"},
		{"postgres://etl:s3cret@db:5432/crm?sslmode=disable", "postgres://etl:xxxxx@db:5432/crm?sslmode=disable"},
		{"postgres://etl@db/crm", "postgres://etl@db/crm"},
		{"postgres://db/crm?user=etl&password=s3cret", "postgres://db/crm?password=xxxxx&user=etl"},
		{"s3://bucket/key.csv?endpoint=http://127.0.0.1:9000&use_path_style=true", "s3://bucket/key.csv?endpoint=http://127.0.0.1:9000&use_path_style=true"},
		{"s3://bucket/k?aws_secret_access_key=abc", "s3://bucket/k?aws_secret_access_key=xxxxx"},
		{"postgres://u:p@[::1/x", "postgres://(unparsable URL)"},
	} {
		if got := redact.URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
