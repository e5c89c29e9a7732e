package sqlsink_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/contactbatch/batch/sinks/sqlsink"
)

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPostgresReconnect kills the sink's server connection between two
// commits: the next commit meets a dead connection, retries the batch on
// a new one and loses or duplicates nothing.
func TestPostgresReconnect(t *testing.T) {
	e := newPostgres(t)
	table := e.table(t)
	app := "sqlsink_" + strings.TrimPrefix(table, "sqlsink_t_")
	var logs syncBuffer
	opts := sqlsink.Options{Table: table, JobID: "j", Schema: testSchema, RetryWait: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	sep := "?"
	if strings.Contains(e.dsn, "?") {
		sep = "&"
	}
	s, err := sqlsink.Open(context.Background(), e.dsn+sep+"application_name="+app, opts, "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, outputs(0, 100, "")...)
	commit(t, s, "100")

	var killed int
	if err := e.db.QueryRow(`SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1) k`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no connection to terminate")
	}
	write(t, s, outputs(100, 200, "")...)
	commit(t, s, "200")
	closeSink(t, s)
	if !strings.Contains(logs.String(), "retrying batch") {
		t.Errorf("no retry logged after the connection was killed; log:\n%s", logs.String())
	}
	var want []dbRow
	for _, o := range outputs(0, 200, "") {
		want = append(want, expect(t, e, "j", testSchema, testSchema.Input, o))
	}
	checkRows(t, dump(t, e, table, testSchema), want)
}
