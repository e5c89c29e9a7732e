package sqlsink_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// defaultPGDSN is the test database; BATCH_TEST_PG_DSN overrides it.
const defaultPGDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// env is one database under test, reached both through the sink (url) and
// directly (db) to check what the sink wrote.
type env struct {
	name string
	pg   bool
	dsn  string // database/sql DSN
	db   *sql.DB
	// table returns a fresh table name that is dropped when the test ends.
	tables []string
}

func (e *env) url(t *testing.T) string {
	t.Helper()
	if e.pg {
		return e.dsn
	}
	return "sqlite://" + e.dsn
}

// table returns a unique table name, dropped (with its version row) at
// the end of the test.
func (e *env) table(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "sqlsink_t_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		e.db.Exec(`DROP TABLE IF EXISTS "` + name + `"`)
		e.db.Exec(e.q(`DELETE FROM batch_schema_version WHERE table_name = ?`), name)
	})
	return name
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (e *env) q(query string) string {
	if !e.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + string(rune('0'+n)))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func newSQLite(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{name: "sqlite", dsn: path, db: db}
}

func newPostgres(t *testing.T) *env {
	t.Helper()
	dsn := os.Getenv("BATCH_TEST_PG_DSN")
	if dsn == "" {
		dsn = defaultPGDSN
	}
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("BATCH_REQUIRE_SERVICES") != "" {
			t.Fatalf("postgres at %s unreachable and BATCH_REQUIRE_SERVICES is set: %v", dsn, err)
		}
		t.Skipf("postgres unreachable (%v); set BATCH_TEST_PG_DSN to run, BATCH_REQUIRE_SERVICES to fail instead", err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{name: "postgres", pg: true, dsn: dsn, db: db}
}

// tableNames lists the tables of the database (current schema for
// PostgreSQL) that this package's tests could create: other packages'
// tests share the PostgreSQL database. keep reports the names to list
// besides sqlsink_t_*.
func (e *env) tableNames(t *testing.T, keep func(string) bool) map[string]bool {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if e.pg {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := e.db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(n, "sqlsink_t_") || keep(n) {
			out[n] = true
		}
	}
	return out
}

func (e *env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM "` + table + `"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
