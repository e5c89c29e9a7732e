package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/sqlsink"
)

// sqlsqlBenchResult is the outcome of sqlBench.
type sqlBenchResult struct {
	// Rows is the number of rows written per pass.
	Rows int
	// Insert is the time to write Rows new rows; Replay the time to write
	// the same rows again (unchanged: upserts that update nothing); Update
	// the time to write them again with changed values.
	Insert, Replay, Update time.Duration
}

// RowsPerSec returns rows per second for a duration of r.
func (r sqlBenchResult) RowsPerSec(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(r.Rows) / d.Seconds()
}

// String formats the three throughputs.
func (r sqlBenchResult) String() string {
	return fmt.Sprintf("%d rows: insert %.0f rows/s, replay %.0f rows/s, update %.0f rows/s",
		r.Rows, r.RowsPerSec(r.Insert), r.RowsPerSec(r.Replay), r.RowsPerSec(r.Update))
}

// sqlBench measures sqlsink on the database at rawURL (a sqlite:// or
// postgres:// URL as for sqlsink.Open): it writes rows synthetic outputs
// (4 input columns, 8 typed result columns, a raw response) into a fresh
// table, committing every 2000 rows as the pipeline does, then replays
// them unchanged, then rewrites them changed. It returns the table's name
// for the caller to drop.
func sqlBench(ctx context.Context, rawURL string, rows int) (sqlBenchResult, string, error) {
	res := sqlBenchResult{Rows: rows}
	opts := sqlsink.Options{
		Table: "sqlsink_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36),
		JobID: "bench",
		Schema: pipeline.Schema{
			Input:  []string{"email", "first_name", "last_name", "company"},
			Result: []string{"row_status", "email_normalized", "email_verdict", "email_free", "email_role", "email_catch_all", "org_employees", "org_founded_year"},
			Types: []pipeline.ColumnType{pipeline.TypeText, pipeline.TypeText, pipeline.TypeText, pipeline.TypeBool,
				pipeline.TypeBool, pipeline.TypeBool, pipeline.TypeInt, pipeline.TypeInt},
		},
	}
	pass := func(verdict string) (time.Duration, error) {
		start := time.Now()
		s, err := sqlsink.Open(ctx, rawURL, opts, "")
		if err != nil {
			return 0, err
		}
		for i := range rows {
			email := "user" + strconv.Itoa(i) + "@example.com"
			out := &pipeline.Output{
				Seq: int64(i), Line: int64(i + 2), Origin: "bench.csv", Email: email,
				Values: []string{email, "First" + strconv.Itoa(i), "Last", "Example Inc"},
				Result: []string{"ok", email, verdict, "false", "false", "true", strconv.Itoa(i % 5000), "1999"},
				Raw:    []pipeline.Field{{Name: "verify", Value: []byte(`{"email":"` + email + `","deliverable":"` + verdict + `"}`)}},
			}
			if err := s.Write(ctx, out); err != nil {
				_ = s.Release()
				return 0, err
			}
			if (i+1)%2000 == 0 {
				if _, err := s.Commit(ctx); err != nil {
					_ = s.Release()
					return 0, err
				}
			}
		}
		if err := s.Close(ctx); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	var err error
	if res.Insert, err = pass("deliverable"); err == nil {
		if res.Replay, err = pass("deliverable"); err == nil {
			res.Update, err = pass("risky")
		}
	}
	return res, opts.Table, err
}
