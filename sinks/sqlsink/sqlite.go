package sqlsink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// backend is one database dialect.
type backend interface {
	// flush upserts rows in one transaction.
	flush(ctx context.Context, rows []row) error
	// retryable reports whether an error from flush is transient.
	retryable(err error) bool
	// sanitizes reports whether text must be valid UTF-8 without NUL.
	sanitizes() bool
	close() error
}

// sqliteTimeFormat is how created_at and updated_at are stored in SQLite.
const sqliteTimeFormat = "2006-01-02T15:04:05.000000Z"

type sqliteDB struct {
	db    *sql.DB
	lay   *layout
	stmts []*sql.Stmt // upserts; in email mode [with email, without email]
}

// sqliteDSN returns the modernc DSN for a file path: a file: URI (so that
// '?' or '#' in the path stay part of it) with WAL, a busy timeout and
// immediate write transactions.
func sqliteDSN(path string) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	return u.String() + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

func openSQLite(ctx context.Context, path string, lay *layout, opts Options) (backend, error) {
	if path == "" || strings.ContainsRune(path, 0) {
		return nil, fmt.Errorf("%w: sqlite url needs a file path: sqlite://path.db or sqlite:///abs/path.db", ErrBadOptions)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlsink: open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; keeps the prepared statements on one connection
	s := &sqliteDB{db: db, lay: lay}
	if err := s.migrate(ctx, opts); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlsink: sqlite %s: %w", path, err)
	}
	for _, q := range s.upserts() {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlsink: sqlite %s: prepare upsert: %w", path, err)
		}
		s.stmts = append(s.stmts, st)
	}
	return s, nil
}

func sqliteType(c column) string {
	switch c.typ {
	case "int":
		return "INTEGER"
	case "bool":
		return "BOOLEAN"
	}
	return "TEXT"
}

// migrate creates or checks the table inside one immediate transaction, so
// two processes opening the same file do not race.
func (s *sqliteDB) migrate(ctx context.Context, opts Options) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	l := s.lay
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+quote(versionTable)+` (
		table_name TEXT PRIMARY KEY,
		version INTEGER NOT NULL,
		upsert_key TEXT NOT NULL,
		created_at TEXT NOT NULL)`); err != nil {
		return err
	}
	var version int
	var key string
	err = tx.QueryRowContext(ctx, `SELECT version, upsert_key FROM `+quote(versionTable)+` WHERE table_name = ?`, l.table).Scan(&version, &key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE lower(name) = lower(?)`, l.table).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s was not created by batch", ErrForeignTable, l.table)
		}
		for _, q := range createStatements(l, "INTEGER", "TEXT", "TEXT", "TEXT") {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+quote(versionTable)+` (table_name, version, upsert_key, created_at) VALUES (?, ?, ?, ?)`,
			l.table, SchemaVersion, l.key, time.Now().UTC().Format(sqliteTimeFormat)); err != nil {
			return err
		}
		opts.Logger.Info("sqlsink: created table", "table", l.table, "upsert_key", l.key)
	case err != nil:
		return err
	default:
		if err := checkVersion(l, version, key); err != nil {
			return err
		}
	}
	have := map[string]string{}
	rows, err := tx.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, l.table)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return err
		}
		have[name] = strings.ToUpper(typ)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, c := range l.results {
		typ, ok := have[c.name]
		switch {
		case !ok:
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quote(l.table)+` ADD COLUMN `+quote(c.name)+` `+sqliteType(c)); err != nil {
				return err
			}
			opts.Logger.Info("sqlsink: added column", "table", l.table, "column", c.name)
		case typ != sqliteType(c):
			return fmt.Errorf("%w: column %s.%s is %s, this run writes %s", ErrForeignTable, l.table, c.name, typ, sqliteType(c))
		}
	}
	return tx.Commit()
}

func checkVersion(l *layout, version int, key string) error {
	if version > SchemaVersion {
		return fmt.Errorf("%w: %s has schema version %d, this batch writes version %d; upgrade batch or choose another table", ErrNewerSchema, l.table, version, SchemaVersion)
	}
	if key != l.key {
		return fmt.Errorf("%w: %s was created with upsert key %q, this run uses %q", ErrForeignTable, l.table, key, l.key)
	}
	return nil
}

// createStatements returns the DDL of the table without result columns and
// its unique indexes, for the given type names.
func createStatements(l *layout, bigint, jsonType, jsonbType, timeType string) []string {
	t := quote(l.table)
	pk := ""
	if l.key == UpsertRow {
		pk = `,
		PRIMARY KEY (job_id, row_seq)`
	}
	q := []string{`CREATE TABLE ` + t + ` (
		job_id TEXT NOT NULL,
		row_seq ` + bigint + ` NOT NULL,
		line ` + bigint + ` NOT NULL,
		origin TEXT NOT NULL,
		email TEXT,
		input ` + jsonType + ` NOT NULL,
		raw ` + jsonbType + `,
		created_at ` + timeType + ` NOT NULL,
		updated_at ` + timeType + ` NOT NULL` + pk + `)`}
	if l.key == UpsertEmail {
		q = append(q,
			`CREATE UNIQUE INDEX `+quote(l.emailIndex())+` ON `+t+` (email) WHERE email IS NOT NULL`,
			`CREATE UNIQUE INDEX `+quote(l.rowIndex())+` ON `+t+` (job_id, row_seq) WHERE email IS NULL`)
	}
	return q
}

// conflictTargets returns the ON CONFLICT targets of the upsert statements
// and the matching row filter.
func conflictTargets(l *layout) (targets, filters []string) {
	if l.key == UpsertRow {
		return []string{"(job_id, row_seq)"}, []string{""}
	}
	return []string{"(email) WHERE email IS NOT NULL", "(job_id, row_seq) WHERE email IS NULL"},
		[]string{"email IS NOT NULL", "email IS NULL"}
}

// upserts returns the prepared upsert statements: one per conflict target.
// A row whose values equal the stored ones is left alone, updated_at
// included.
func (s *sqliteDB) upserts() []string {
	l := s.lay
	t := quote(l.table)
	cols := l.insertColumns()
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)+2), ", ")
	var set, diff []string
	for _, c := range l.updateColumns() {
		set = append(set, quote(c)+" = excluded."+quote(c))
		diff = append(diff, t+"."+quote(c)+" IS NOT excluded."+quote(c))
	}
	set = append(set, `"updated_at" = excluded."updated_at"`)
	targets, _ := conflictTargets(l)
	var out []string
	for _, target := range targets {
		out = append(out, `INSERT INTO `+t+` (`+quoteAll(cols, "")+`, "created_at", "updated_at") VALUES (`+marks+`)
		ON CONFLICT `+target+` DO UPDATE SET `+strings.Join(set, ", ")+`
		WHERE `+strings.Join(diff, " OR "))
	}
	return out
}

func (s *sqliteDB) flush(ctx context.Context, rows []row) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UTC().Format(sqliteTimeFormat)
	stmts := make([]*sql.Stmt, len(s.stmts))
	for i, st := range s.stmts {
		stmts[i] = tx.StmtContext(ctx, st)
	}
	for i := range rows {
		st := stmts[0]
		if len(stmts) > 1 && rows[i].email == "" {
			st = stmts[1]
		}
		if _, err := st.ExecContext(ctx, append(rows[i].args(), now, now)...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteDB) retryable(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

func (s *sqliteDB) sanitizes() bool { return false }

func (s *sqliteDB) close() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, s.db.Close())...)
}
