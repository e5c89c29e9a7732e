package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

var requestID = regexp.MustCompile(`"requestId": ?"[^"]*"`)

// sqliteDump renders every row of the contacts table, without the columns
// that differ between two runs of the same input (job id, timestamps).
func sqliteDump(ctx context.Context, t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return dumpTable(ctx, t, db, `"contacts"`)
}

// postgresDSN returns the test database, skipping the test when it is not
// reachable unless BATCH_REQUIRE_SERVICES is set.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("BATCH_TEST_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		if os.Getenv("BATCH_REQUIRE_SERVICES") != "" {
			t.Fatalf("PostgreSQL at %s: %v (BATCH_REQUIRE_SERVICES is set)", dsn, err)
		}
		t.Skipf("PostgreSQL not reachable (%v); set BATCH_TEST_PG_DSN", err)
	}
	return dsn
}

// dumpPostgres renders a PostgreSQL output table like sqliteDump and drops it.
func dumpPostgres(t *testing.T, dsn, table string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Cleanup(func() {
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			db.Exec(`DROP TABLE IF EXISTS "` + table + `"`)
			db.Exec(`DELETE FROM batch_schema_version WHERE table_name = $1`, table)
			db.Close()
		}
	})
	return dumpTable(context.Background(), t, db, `"`+table+`"`)
}

func dumpTable(ctx context.Context, t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT * FROM `+table+` ORDER BY row_seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		n++
		for i, c := range cols {
			switch c {
			case "job_id", "created_at", "updated_at":
				continue
			}
			v := fmt.Sprint(vals[i])
			if b, ok := vals[i].([]byte); ok {
				v = string(b)
			}
			if c == "raw" {
				// Every API answer carries its own request id.
				v = requestID.ReplaceAllString(v, `"requestId":"…"`)
			}
			fmt.Fprintf(&b, "%s=%s|", c, v)
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d rows\n%s", n, b.String())
}
