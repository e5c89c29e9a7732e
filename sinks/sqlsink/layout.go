package sqlsink

import (
	"fmt"
	"strings"

	"github.com/contactbatch/batch/pipeline"
)

// fixedColumns returns the fixed columns, in insert order, that precede
// the result columns.
func fixedColumns() []string {
	return []string{"job_id", "row_seq", "line", "origin", "email", "input", "raw"}
}

// versionTable records, per table, the layout version and upsert key.
const versionTable = "batch_schema_version"

// maxTableLen leaves room for the index names derived from the table name
// within PostgreSQL's 63-byte identifier limit.
const maxTableLen = 50

// layout is the table's shape, built only from validated identifiers.
type layout struct {
	table   string
	key     string
	results []column
}

type column struct {
	name string
	typ  pipeline.ColumnType
}

func newLayout(opts Options) (*layout, error) {
	l := &layout{table: opts.Table, key: opts.UpsertKey}
	seen := map[string]bool{"created_at": true, "updated_at": true}
	for _, c := range fixedColumns() {
		seen[c] = true
	}
	for i, name := range opts.Schema.Result {
		if !isSnake(name) {
			return nil, fmt.Errorf("%w: result column %q: want lower-case snake_case ASCII, at most 63 bytes", ErrBadOptions, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: result column %q is a duplicate or a reserved column name", ErrBadOptions, name)
		}
		seen[name] = true
		typ := opts.Schema.Types[i]
		switch typ {
		case pipeline.TypeText, pipeline.TypeInt, pipeline.TypeBool:
		default:
			return nil, fmt.Errorf("%w: result column %q has unknown type %q", ErrBadOptions, name, typ)
		}
		l.results = append(l.results, column{name, typ})
	}
	return l, nil
}

// insertColumns returns the fixed and result column names in insert order.
func (l *layout) insertColumns() []string {
	cols := fixedColumns()
	for _, c := range l.results {
		cols = append(cols, c.name)
	}
	return cols
}

// updateColumns returns the columns an upsert overwrites: all inserted
// columns but the key.
func (l *layout) updateColumns() []string {
	var out []string
	for _, c := range l.insertColumns() {
		switch {
		case l.key == UpsertRow && (c == "job_id" || c == "row_seq"):
		case l.key == UpsertEmail && c == "email":
		default:
			out = append(out, c)
		}
	}
	return out
}

func (l *layout) emailIndex() string { return l.table + "_email_key" }
func (l *layout) rowIndex() string   { return l.table + "_row_key" }

// checkTable validates a table name: a plain identifier, so that it is
// safe and unambiguous in both databases even before quoting.
func checkTable(name string) error {
	ok := len(name) <= maxTableLen && name != ""
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
	}
	lower := strings.ToLower(name)
	if !ok || strings.HasPrefix(lower, "sqlite_") || strings.HasPrefix(lower, "batch_") || strings.HasPrefix(lower, "pg_") {
		return fmt.Errorf("%w: table %q: want letters, digits and underscores (not leading digits), at most %d bytes, not starting with sqlite_, batch_ or pg_", ErrBadOptions, name, maxTableLen)
	}
	return nil
}

func isSnake(name string) bool {
	if name == "" || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// quote quotes an identifier for both SQLite and PostgreSQL: wrapped in
// double quotes, embedded quotes doubled, NUL dropped. Identifiers are
// validated before this; quoting is the second fence.
func quote(name string) string {
	name = strings.ReplaceAll(name, "\x00", "")
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func quoteAll(names []string, prefix string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = prefix + quote(n)
	}
	return strings.Join(q, ", ")
}
