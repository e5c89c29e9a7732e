package sqlsink_test

import (
	"context"
	"testing"

	"github.com/contactbatch/batch/internal/sinktest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/sqlsink"
)

func TestConformance(t *testing.T) {
	for name, newEnv := range map[string]func(*testing.T) *env{"sqlite": newSQLite, "postgres": newPostgres} {
		t.Run(name, func(t *testing.T) {
			sinktest.Run(t, func(t *testing.T) sinktest.Target {
				e := newEnv(t)
				table := e.table(t)
				opts := sqlsink.Options{Table: table, JobID: "job-1", Schema: sinktest.Schema()}
				return sinktest.Target{
					Open: func(t *testing.T, pos pipeline.Position) sinktest.Sink {
						s, err := sqlsink.Open(context.Background(), e.url(t), opts, pos)
						if err != nil {
							t.Fatalf("Open(%q) = %v", pos, err)
						}
						return s
					},
					Read: func(t *testing.T) []string {
						rows, err := e.db.Query(`SELECT email FROM "` + table + `" ORDER BY row_seq`)
						if err != nil {
							t.Fatal(err)
						}
						defer rows.Close()
						var emails []string
						for rows.Next() {
							var s string
							if err := rows.Scan(&s); err != nil {
								t.Fatal(err)
							}
							emails = append(emails, s)
						}
						if err := rows.Err(); err != nil {
							t.Fatal(err)
						}
						return emails
					},
					Visibility: sinktest.AtCommit,
				}
			})
		})
	}
}
