package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contactbatch/batch/internal/redact"
)

// sinks: rows/s writing 100k rows into SQLite and PostgreSQL, through
// sqlBench and end to end through `batch run` with no API stage.
func (b *bench) sinks(ctx context.Context) ([]result, error) {
	const n = 100_000
	in := b.path("sink.csv")
	if err := writeUnique(in, n); err != nil {
		return nil, err
	}
	r := runner{bin: b.bin, url: "http://127.0.0.1:9"} // no API stage: never called
	var out []result

	// SQLite.
	db := b.path("sink.db")
	res, _, err := sqlBench(ctx, "sqlite://"+db, n) // the file goes with the bench directory
	if err != nil {
		return nil, fmt.Errorf("sqlBench sqlite: %w", err)
	}
	rr, err := r.mustExit(ctx, exitOK, runArgs(in, "sqlite://"+b.path("sink-run.db"), b.path("sink.state"))...)
	if err != nil {
		return nil, err
	}
	out = append(out, sinkResult("sink SQLite", res, n, rr.Wall))

	// PostgreSQL.
	if !pgReachable(b.pgURL) {
		out = append(out, result{What: "sink PostgreSQL", Figure: "—", Ratio: "—", Target: "report rows/s", Verdict: skip,
			Note: "PostgreSQL not reachable at " + redact.URL(b.pgURL) + "; row skipped"})
		return out, nil
	}
	res, benchTable, err := sqlBench(ctx, b.pgURL, n)
	if derr := dropTable(ctx, b.pgURL, benchTable); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return out, fmt.Errorf("sqlBench postgres: %w", err)
	}
	table := "batchbench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	rr, err = r.mustExit(ctx, exitOK, runArgs(in, b.pgURL, b.path("sink-pg.state"), "--table", table)...)
	if derr := dropTable(ctx, b.pgURL, table); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return out, err
	}
	return append(out, sinkResult("sink PostgreSQL", res, n, rr.Wall)), nil
}

func sinkResult(what string, res sqlBenchResult, n int, wall time.Duration) result {
	return result{
		What:    what,
		Figure:  fmt.Sprintf("%.0f rows/s insert; batch run %.0f rows/s", res.RowsPerSec(res.Insert), rate(n, wall)),
		Ratio:   "—",
		Target:  "report rows/s",
		Verdict: info,
		Note: fmt.Sprintf("sqlBench, %d rows committed every 2000: insert %.0f, replay unchanged %.0f, update %.0f rows/s; "+
			"`batch run` with no API stage, %d rows × 5 columns CSV → table, whole process %s",
			res.Rows, res.RowsPerSec(res.Insert), res.RowsPerSec(res.Replay), res.RowsPerSec(res.Update), n, secs(wall)),
	}
}

// dropTable removes the table `batch run` created in PostgreSQL.
func dropTable(ctx context.Context, rawURL, table string) error {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return fmt.Errorf("drop bench table: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
		return fmt.Errorf("drop bench table: %w", err)
	}
	// sqlsink records each table's layout version; forget the dropped one.
	if _, err := conn.Exec(ctx, "DELETE FROM batch_schema_version WHERE table_name = $1", table); err != nil {
		return fmt.Errorf("drop bench table: %w", err)
	}
	return nil
}
