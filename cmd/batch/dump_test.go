package main

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

var requestID = regexp.MustCompile(`"requestId":"[^"]*"`)

// sqliteDump renders every row of the contacts table, without the columns
// that differ between two runs of the same input (job id, timestamps).
func sqliteDump(ctx context.Context, t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT * FROM "contacts" ORDER BY row_seq`)
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
