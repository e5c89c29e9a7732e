package sqlsink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/sqlsink"
)

func TestSQLite(t *testing.T)   { testSink(t, newSQLite) }
func TestPostgres(t *testing.T) { testSink(t, newPostgres) }

var testSchema = pipeline.Schema{
	Input:  []string{"email", "name", "notes"},
	Result: []string{"row_status", "email_free", "org_employees", "person_title"},
	Types:  []pipeline.ColumnType{pipeline.TypeText, pipeline.TypeBool, pipeline.TypeInt, pipeline.TypeText},
}

// output returns a deterministic output for row i; variant changes the
// values (a later run, or changed results).
func output(i int, variant string) *pipeline.Output {
	email := fmt.Sprintf("user%d@example.com", i)
	free := []string{"true", "false", ""}[i%3]
	emp := strconv.Itoa(i * 7)
	if i%4 == 0 {
		emp = ""
	}
	return &pipeline.Output{
		Seq: int64(i), Line: int64(i + 2), Origin: "in.csv", Email: email,
		Values: []string{email, "Name " + strconv.Itoa(i) + variant, ""},
		Result: []string{"ok" + variant, free, emp, ""},
		Raw:    []pipeline.Field{{Name: "verify", Value: json.RawMessage(`{"email":"` + email + `","n":` + strconv.Itoa(i) + `}`)}},
	}
}

func open(t *testing.T, e *env, opts sqlsink.Options, pos pipeline.Position) *sqlsink.Sink {
	t.Helper()
	s, err := sqlsink.Open(context.Background(), e.url(t), opts, pos)
	if err != nil {
		t.Fatalf("Open(%q) = %v", pos, err)
	}
	return s
}

func write(t *testing.T, s *sqlsink.Sink, outs ...*pipeline.Output) {
	t.Helper()
	for _, o := range outs {
		if err := s.Write(context.Background(), o); err != nil {
			t.Fatalf("Write(seq %d) = %v", o.Seq, err)
		}
	}
}

func commit(t *testing.T, s *sqlsink.Sink, want string) {
	t.Helper()
	pos, err := s.Commit(context.Background())
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	if string(pos) != want {
		t.Fatalf("Commit() = %q, want %q", pos, want)
	}
}

func closeSink(t *testing.T, s *sqlsink.Sink) {
	t.Helper()
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
}

func outputs(from, to int, variant string) []*pipeline.Output {
	var out []*pipeline.Output
	for i := from; i < to; i++ {
		out = append(out, output(i, variant))
	}
	return out
}

// kv is one key of a JSON object, in order.
type kv struct{ K, V string }

// dbRow is a table row as read back, normalized across databases.
type dbRow struct {
	Job, Origin      string
	Seq, Line        int64
	Email            any
	Input            []kv
	Raw              any
	Results          []any
	Created, Updated string
}

// dump reads the whole table, ordered by (job_id, row_seq).
func dump(t *testing.T, e *env, table string, sc pipeline.Schema) []dbRow {
	t.Helper()
	cast := ""
	if e.pg {
		cast = "::text"
	}
	cols := []string{"job_id", "row_seq", "line", "origin", "email", "input" + cast, "raw" + cast, "created_at" + cast, "updated_at" + cast}
	for _, c := range sc.Result {
		cols = append(cols, `"`+c+`"`)
	}
	rows, err := e.db.Query(`SELECT ` + strings.Join(cols, ", ") + ` FROM "` + table + `" ORDER BY job_id, row_seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []dbRow
	for rows.Next() {
		var r dbRow
		var input string
		var raw, email any
		r.Results = make([]any, len(sc.Result))
		dest := []any{&r.Job, &r.Seq, &r.Line, &r.Origin, &email, &input, &raw, &r.Created, &r.Updated}
		for i := range r.Results {
			dest = append(dest, &r.Results[i])
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		r.Email = asString(email)
		r.Input = orderedObject(t, input)
		if raw != nil {
			if err := json.Unmarshal([]byte(asString(raw).(string)), &r.Raw); err != nil {
				t.Fatalf("raw %q: %v", raw, err)
			}
		}
		for i, v := range r.Results {
			r.Results[i] = asString(v)
			if n, ok := v.(int64); ok && sc.Types[i] == pipeline.TypeBool {
				r.Results[i] = n != 0 // SQLite stores booleans as 0/1
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func asString(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// orderedObject decodes a flat JSON object of strings keeping key order.
func orderedObject(t *testing.T, s string) []kv {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("input %q: not an object", s)
	}
	var out []kv
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatalf("input %q: %v", s, err)
		}
		v, err := d.Token()
		if err != nil {
			t.Fatalf("input %q: %v", s, err)
		}
		out = append(out, kv{k.(string), v.(string)})
	}
	return out
}

// clean is what PostgreSQL keeps of a string; SQLite keeps it as is
// outside JSON, and inside JSON only invalid UTF-8 is replaced.
func clean(e *env, s string, inJSON bool) string {
	if e.pg {
		return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	}
	if inJSON {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// expect returns the row the sink should store for o, ignoring timestamps.
func expect(t *testing.T, e *env, job string, sc pipeline.Schema, keys []string, o *pipeline.Output) dbRow {
	t.Helper()
	r := dbRow{Job: job, Seq: o.Seq, Line: o.Line, Origin: clean(e, o.Origin, false)}
	if o.Email != "" {
		r.Email = clean(e, o.Email, false)
	}
	for i, v := range o.Values {
		r.Input = append(r.Input, kv{keys[i], clean(e, v, true)})
	}
	if len(o.Raw) > 0 {
		m := map[string]any{}
		for _, f := range o.Raw {
			var v any
			if err := json.Unmarshal(f.Value, &v); err != nil {
				v = string(f.Value) // not JSON: stored as a JSON string
			}
			if e.pg {
				b, _ := json.Marshal(v)
				b = bytes.ReplaceAll(b, []byte(`\u0000`), nil)
				json.Unmarshal(b, &v)
			}
			m[f.Name] = v
		}
		r.Raw = m
	}
	for i, v := range o.Result {
		var x any
		switch {
		case v == "":
		case sc.Types[i] == pipeline.TypeBool:
			x = v == "true"
		case sc.Types[i] == pipeline.TypeInt:
			x, _ = strconv.ParseInt(v, 10, 64)
		default:
			x = clean(e, v, false)
		}
		r.Results = append(r.Results, x)
	}
	return r
}

var ignoreTimes = cmp.FilterPath(func(p cmp.Path) bool {
	n := p.Last().String()
	return n == ".Created" || n == ".Updated"
}, cmp.Ignore())

func checkRows(t *testing.T, got, want []dbRow) {
	t.Helper()
	if diff := cmp.Diff(want, got, ignoreTimes); diff != "" {
		t.Fatalf("table contents (-want +got):\n%s", diff)
	}
}

func testSink(t *testing.T, newEnv func(*testing.T) *env) {
	t.Run("ResumeReplay", func(t *testing.T) { testResumeReplay(t, newEnv(t)) })
	t.Run("EmailKey", func(t *testing.T) { testEmailKey(t, newEnv(t)) })
	t.Run("HostileHeaders", func(t *testing.T) { testHostileHeaders(t, newEnv(t)) })
	t.Run("HostileTable", func(t *testing.T) { testHostileTable(t, newEnv(t)) })
	t.Run("BadBytes", func(t *testing.T) { testBadBytes(t, newEnv(t)) })
	t.Run("Typed", func(t *testing.T) { testTyped(t, newEnv(t)) })
	t.Run("SchemaVersion", func(t *testing.T) { testSchemaVersion(t, newEnv(t)) })
	t.Run("BadOptions", func(t *testing.T) { testBadOptions(t, newEnv(t)) })
}

func testResumeReplay(t *testing.T, e *env) {
	table := e.table(t)
	opts := sqlsink.Options{Table: table, JobID: "job-1", Schema: testSchema, BatchRows: 50}
	const n = 300
	var want []dbRow
	for _, o := range outputs(0, n, "") {
		want = append(want, expect(t, e, "job-1", testSchema, testSchema.Input, o))
	}

	// First run: commits every 60 rows; Write flushes every 50 on its own.
	s := open(t, e, opts, "")
	for i := 0; i < 240; i += 60 {
		write(t, s, outputs(i, i+60, "")...)
		commit(t, s, strconv.Itoa(i+60))
	}
	write(t, s, outputs(240, n, "")...)
	closeSink(t, s)
	first := dump(t, e, table, testSchema)
	checkRows(t, first, want)

	// Crash after the commit at 120 and resume there: rows 120.. come again.
	s = open(t, e, opts, "120")
	write(t, s, outputs(120, n, "")...)
	commit(t, s, strconv.Itoa(n))
	closeSink(t, s)
	if diff := cmp.Diff(first, dump(t, e, table, testSchema)); diff != "" {
		t.Fatalf("after resume, table changed (-before +after):\n%s", diff)
	}

	// O4: replaying a committed batch 3x changes nothing, updated_at included.
	for range 3 {
		s = open(t, e, opts, "120")
		write(t, s, outputs(120, 180, "")...)
		commit(t, s, "180")
		closeSink(t, s)
	}
	if diff := cmp.Diff(first, dump(t, e, table, testSchema)); diff != "" {
		t.Fatalf("after 3 replays, table changed (-before +after):\n%s", diff)
	}
	if got := e.count(t, table); got != n {
		t.Fatalf("count = %d, want %d", got, n)
	}

	// A replay with changed values overwrites them and touches updated_at.
	s = open(t, e, opts, "5")
	write(t, s, output(5, "-v2"))
	commit(t, s, "6")
	closeSink(t, s)
	got := dump(t, e, table, testSchema)
	want[5] = expect(t, e, "job-1", testSchema, testSchema.Input, output(5, "-v2"))
	checkRows(t, got, want)
	if got[5].Created != first[5].Created || got[5].Updated < first[5].Updated {
		t.Errorf("changed row: created %s→%s updated %s→%s; want created kept, updated not older",
			first[5].Created, got[5].Created, first[5].Updated, got[5].Updated)
	}
	if got[6].Updated != first[6].Updated {
		t.Errorf("untouched row updated_at changed: %s → %s", first[6].Updated, got[6].Updated)
	}
}

func testEmailKey(t *testing.T, e *env) {
	table := e.table(t)
	opts := sqlsink.Options{Table: table, JobID: "night-1", UpsertKey: sqlsink.UpsertEmail, Schema: testSchema}
	mk := func(seq int, email, variant string) *pipeline.Output {
		o := output(seq, variant)
		o.Email = email
		o.Values[0] = email
		return o
	}
	night1 := []*pipeline.Output{
		mk(0, "a@x.com", "1"), mk(1, "b@x.com", "1"), mk(2, "a@x.com", "1b"), // a twice in one batch
		mk(3, "", "1"), mk(4, "", "1"), mk(5, "c@x.com", "1"),
	}
	s := open(t, e, opts, "")
	write(t, s, night1...)
	commit(t, s, "6")
	write(t, s, mk(6, "c@x.com", "1c")) // c again in a later batch
	closeSink(t, s)

	opts.JobID = "night-2"
	night2 := []*pipeline.Output{mk(0, "a@x.com", "2"), mk(1, "d@x.com", "2"), mk(2, "", "2")}
	for range 3 { // replays of the same run change nothing
		s = open(t, e, opts, "")
		write(t, s, night2...)
		closeSink(t, s)
	}
	x := func(job string, o *pipeline.Output) dbRow { return expect(t, e, job, testSchema, testSchema.Input, o) }
	want := []dbRow{
		x("night-1", night1[1]),                          // b
		x("night-1", night1[3]), x("night-1", night1[4]), // no email: kept per row
		x("night-1", mk(6, "c@x.com", "1c")),
		x("night-2", night2[0]), x("night-2", night2[1]), x("night-2", night2[2]),
	}
	checkRows(t, dump(t, e, table, testSchema), want)

	// The key is a property of the table.
	opts.UpsertKey = sqlsink.UpsertRow
	if _, err := sqlsink.Open(context.Background(), e.url(t), opts, ""); !errors.Is(err, sqlsink.ErrForeignTable) {
		t.Fatalf("Open with another upsert key = %v, want ErrForeignTable", err)
	}
}

func testHostileHeaders(t *testing.T, e *env) {
	table := e.table(t)
	sentinel := e.table(t)
	if _, err := e.db.Exec(`CREATE TABLE "` + sentinel + `" (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	e.db.Exec(`INSERT INTO "` + sentinel + `" VALUES ('keep')`)
	long := strings.Repeat("n", 200)
	header := []string{
		"email",
		`"; DROP TABLE ` + sentinel + `; --`,
		`'); DROP TABLE ` + sentinel + `; --`,
		`it's "quoted"`,
		"`back`tick`",
		long,
		long[:63] + "x", // equal to the previous one in the first 63 bytes
		"email",         // duplicate
		"a\x00b",
		"名前 ✉",
		"",
		"email_2",
		"bad\xffutf8",
	}
	keep := func(n string) bool {
		return slices.ContainsFunc(header, func(h string) bool { return strings.Contains(h, n) })
	}
	before := e.tableNames(t, keep)
	nul := "a\x00b"
	if e.pg {
		nul = "ab"
	}
	keys := []string{
		"email", header[1], header[2], header[3], header[4], long, long[:63] + "x",
		"email_3", nul, "名前 ✉", "column_11", "email_2", "bad\uFFFDutf8",
	}
	sc := pipeline.Schema{Input: header, Result: testSchema.Result, Types: testSchema.Types}
	s := open(t, e, sqlsink.Options{Table: table, JobID: "j", Schema: sc}, "")
	var want []dbRow
	for i := range 3 {
		o := output(i, "")
		o.Values = make([]string, len(header))
		for j := range header {
			o.Values[j] = header[j] + " value " + strconv.Itoa(i)
		}
		write(t, s, o)
		want = append(want, expect(t, e, "j", sc, keys, o))
	}
	closeSink(t, s)
	checkRows(t, dump(t, e, table, sc), want)

	after := e.tableNames(t, keep)
	delete(after, table)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("tables changed beyond %s (-before +after):\n%s", table, diff)
	}
	if got := e.count(t, sentinel); got != 1 {
		t.Errorf("sentinel table has %d rows, want 1", got)
	}
	// The table has exactly the fixed and result columns: no header became one.
	q := `SELECT count(*) FROM pragma_table_info('` + table + `')`
	if e.pg {
		q = `SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '` + table + `'`
	}
	var ncol int
	if err := e.db.QueryRow(q).Scan(&ncol); err != nil {
		t.Fatal(err)
	}
	if want := 9 + len(sc.Result); ncol != want {
		t.Errorf("table has %d columns, want %d", ncol, want)
	}
}

func testHostileTable(t *testing.T, e *env) {
	sentinel := e.table(t)
	if _, err := e.db.Exec(`CREATE TABLE "` + sentinel + `" (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	names := []string{
		`x"; DROP TABLE ` + sentinel + `; --`,
		`x; DROP TABLE ` + sentinel,
		"contacts`", "it's", "a.b", "a b", "1abc", "a-b", "Ω", "a\x00b",
		strings.Repeat("t", 51), "sqlite_master", "batch_schema_version", "pg_class", "",
	}
	keep := func(n string) bool {
		return slices.ContainsFunc(names, func(h string) bool { return strings.Contains(h, n) })
	}
	before := e.tableNames(t, keep)
	for _, name := range names {
		opts := sqlsink.Options{Table: name, JobID: "j", Schema: testSchema}
		if name == "" {
			continue // "" means the default table
		}
		_, err := sqlsink.Open(context.Background(), e.url(t), opts, "")
		if !errors.Is(err, sqlsink.ErrBadOptions) {
			t.Errorf("Open(table %q) = %v, want ErrBadOptions", name, err)
		}
	}
	if diff := cmp.Diff(before, e.tableNames(t, keep)); diff != "" {
		t.Errorf("tables changed (-before +after):\n%s", diff)
	}
}

func testBadBytes(t *testing.T, e *env) {
	table := e.table(t)
	s := open(t, e, sqlsink.Options{Table: table, JobID: "j\x00ob", Schema: testSchema}, "")
	o := output(0, "")
	o.Origin = "in\xff.csv"
	o.Email = "nul\x00@x.com"
	o.Values = []string{"a\x00b", "bad \xc3\x28 utf8", "ctl \x01\x1f \" \\ </>&"}
	o.Result[0] = "st\x00\xfeatus"
	o.Raw = []pipeline.Field{
		{Name: "verify", Value: json.RawMessage(`{"s":"a\u0000b","t":"` + "\xff" + `","u":"\ud800","ok":"\ud83d\ude00"}`)},
		{Name: "person", Value: json.RawMessage(`not json`)},
	}
	write(t, s, o)
	closeSink(t, s)
	got := dump(t, e, table, testSchema)
	w := expect(t, e, "j\x00ob", testSchema, testSchema.Input, o)
	if e.pg {
		w.Job = "job"
	}
	// Go decodes a lone surrogate as U+FFFD; PostgreSQL then stores that.
	checkRows(t, got, []dbRow{w})
	if e.pg {
		return
	}
	var raw []byte
	if err := e.db.QueryRow(`SELECT raw FROM "` + table + `"`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, o.Raw[0].Value) {
		t.Errorf("sqlite raw = %q, want the response stored as is", raw)
	}
}

func testTyped(t *testing.T, e *env) {
	table := e.table(t)
	s := open(t, e, sqlsink.Options{Table: table, JobID: "j", Schema: testSchema}, "")
	o := output(1, "")
	o.Result = []string{"ok", "true", "-42", ""}
	write(t, s, o)
	closeSink(t, s)
	var st, free, emp, title any
	if err := e.db.QueryRow(`SELECT row_status, email_free, org_employees, person_title FROM "`+table+`"`).Scan(&st, &free, &emp, &title); err != nil {
		t.Fatal(err)
	}
	wantFree := any(true)
	if !e.pg {
		wantFree = int64(1)
	}
	if diff := cmp.Diff([]any{"ok", wantFree, int64(-42), nil}, []any{asString(st), free, emp, title}); diff != "" {
		t.Errorf("typed values (-want +got):\n%s", diff)
	}
	q := `SELECT typeof(row_status), typeof(email_free), typeof(org_employees), typeof(person_title) FROM "` + table + `"`
	want := []string{"text", "integer", "integer", "null"}
	if e.pg {
		q = `SELECT pg_typeof(row_status)::text, pg_typeof(email_free)::text, pg_typeof(org_employees)::text, pg_typeof(raw)::text FROM "` + table + `"`
		want = []string{"text", "boolean", "bigint", "jsonb"}
	}
	got := make([]string, 4)
	if err := e.db.QueryRow(q).Scan(&got[0], &got[1], &got[2], &got[3]); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("column types (-want +got):\n%s", diff)
	}

	// A value that does not fit its column type is refused at Write.
	s = open(t, e, sqlsink.Options{Table: table, JobID: "j", Schema: testSchema}, "")
	defer s.Close(context.Background())
	for _, res := range [][]string{{"ok", "yes", "", ""}, {"ok", "", "1.5", ""}} {
		o.Result = res
		if err := s.Write(context.Background(), o); err == nil {
			t.Errorf("Write(result %q) = nil, want a type error", res)
		}
	}
}

func testSchemaVersion(t *testing.T, e *env) {
	ctx := context.Background()
	table := e.table(t)
	opts := sqlsink.Options{Table: table, JobID: "j", Schema: testSchema}
	closeSink(t, open(t, e, opts, ""))

	// A later run with more result columns adds them.
	more := testSchema
	more.Result = append(append([]string{}, testSchema.Result...), "org_founded_year")
	more.Types = append(append([]pipeline.ColumnType{}, testSchema.Types...), pipeline.TypeInt)
	opts.Schema = more
	s := open(t, e, opts, "")
	o := output(3, "")
	o.Result = append(o.Result, "1999")
	write(t, s, o)
	closeSink(t, s)
	if got := dump(t, e, table, more); len(got) != 1 || got[0].Results[4] != int64(1999) {
		t.Fatalf("after adding a column: %+v", got)
	}

	// The same column with another type is refused.
	other := more
	other.Types = append(append([]pipeline.ColumnType{}, testSchema.Types...), pipeline.TypeText)
	opts.Schema = other
	if _, err := sqlsink.Open(ctx, e.url(t), opts, ""); !errors.Is(err, sqlsink.ErrForeignTable) {
		t.Errorf("Open with a retyped column = %v, want ErrForeignTable", err)
	}
	opts.Schema = testSchema

	// A table recorded by a newer batch is refused.
	if _, err := e.db.Exec(e.q(`UPDATE batch_schema_version SET version = 99 WHERE table_name = ?`), table); err != nil {
		t.Fatal(err)
	}
	_, err := sqlsink.Open(ctx, e.url(t), opts, "")
	if !errors.Is(err, sqlsink.ErrNewerSchema) || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("Open on a newer table = %v, want ErrNewerSchema naming version 99", err)
	}

	// A table batch did not create is refused.
	foreign := e.table(t)
	if _, err := e.db.Exec(`CREATE TABLE "` + foreign + `" (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	opts.Table = foreign
	if _, err := sqlsink.Open(ctx, e.url(t), opts, ""); !errors.Is(err, sqlsink.ErrForeignTable) {
		t.Errorf("Open on a foreign table = %v, want ErrForeignTable", err)
	}
}

func testBadOptions(t *testing.T, e *env) {
	table := e.table(t)
	tests := []struct {
		name string
		url  string
		opts sqlsink.Options
		pos  pipeline.Position
	}{
		{"no job", e.url(t), sqlsink.Options{Table: table, Schema: testSchema}, ""},
		{"bad key", e.url(t), sqlsink.Options{Table: table, JobID: "j", UpsertKey: "id", Schema: testSchema}, ""},
		{"bad position", e.url(t), sqlsink.Options{Table: table, JobID: "j", Schema: testSchema}, "x12"},
		{"types mismatch", e.url(t), sqlsink.Options{Table: table, JobID: "j", Schema: pipeline.Schema{Result: []string{"a"}}}, ""},
		{"reserved result", e.url(t), sqlsink.Options{Table: table, JobID: "j", Schema: pipeline.Schema{Result: []string{"email"}, Types: []pipeline.ColumnType{"text"}}}, ""},
		{"hostile result", e.url(t), sqlsink.Options{Table: table, JobID: "j", Schema: pipeline.Schema{Result: []string{`a"b`}, Types: []pipeline.ColumnType{"text"}}}, ""},
		{"unknown type", e.url(t), sqlsink.Options{Table: table, JobID: "j", Schema: pipeline.Schema{Result: []string{"a"}, Types: []pipeline.ColumnType{"float"}}}, ""},
		{"scheme", "mysql://x/y", sqlsink.Options{Table: table, JobID: "j"}, ""},
		{"empty sqlite path", "sqlite://", sqlsink.Options{Table: table, JobID: "j"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sqlsink.Open(context.Background(), tt.url, tt.opts, tt.pos); !errors.Is(err, sqlsink.ErrBadOptions) {
				t.Errorf("Open() = %v, want ErrBadOptions", err)
			}
		})
	}
}
