// Package pgtest gives tests a throw-away PostgreSQL schema. It is for
// tests only: import it from _test.go files, never from production code.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// SchemaURL returns the test database's URL (BATCH_TEST_PG_DSN, else the
// local test database) with connections confined to a fresh schema named
// prefix + random hex, dropped when the test ends. Without PostgreSQL the
// test skips, unless BATCH_REQUIRE_SERVICES is set (then it fails).
func SchemaURL(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("BATCH_TEST_PG_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("BATCH_REQUIRE_SERVICES") != "" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	return base + "&search_path=" + schema
}
