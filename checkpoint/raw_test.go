package checkpoint_test

import (
	"database/sql"

	_ "modernc.org/sqlite"
)

func openRaw(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
}
