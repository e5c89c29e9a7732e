package checkpoint

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const pgBudgetSchema = `
CREATE TABLE IF NOT EXISTS batch_budget (
	job TEXT PRIMARY KEY,
	max_calls BIGINT NOT NULL,
	used BIGINT NOT NULL
);
`

// PGBudget is the --max-calls budget of a job whose processes (shards)
// share a PostgreSQL database: at most max calls in all, over every
// process and run of the job. Each open sets the job's cap to the one it
// is given (raising --max-calls lets a stopped job go on). It is safe for
// concurrent use by many processes.
type PGBudget struct {
	pool *pgxpool.Pool
	job  string
}

// OpenPGBudget connects to url and sets job's cap to max calls.
func OpenPGBudget(ctx context.Context, url, job string, max int64) (*PGBudget, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: shared budget url: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: shared budget: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7361030)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, pgBudgetSchema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO batch_budget (job, max_calls, used) VALUES ($1, $2, 0)
			ON CONFLICT (job) DO UPDATE SET max_calls = excluded.max_calls`, job, max)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("checkpoint: shared budget: %w", err)
	}
	return &PGBudget{pool: pool, job: job}, nil
}

// Take reserves up to n calls and returns how many (0: the budget is spent).
func (b *PGBudget) Take(ctx context.Context, n int64) (int64, error) {
	var got int64
	err := b.pool.QueryRow(ctx, `WITH old AS (SELECT used FROM batch_budget WHERE job = $1 FOR UPDATE)
		UPDATE batch_budget SET used = GREATEST(batch_budget.used, LEAST(batch_budget.max_calls, batch_budget.used + $2))
		FROM old WHERE batch_budget.job = $1 RETURNING batch_budget.used - old.used`, b.job, n).Scan(&got)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: shared budget: take: %w", err)
	}
	return got, nil
}

// Give returns n reserved calls that were not made.
func (b *PGBudget) Give(ctx context.Context, n int64) error {
	if _, err := b.pool.Exec(ctx, `UPDATE batch_budget SET used = GREATEST(0, used - $2) WHERE job = $1`, b.job, n); err != nil {
		return fmt.Errorf("checkpoint: shared budget: give: %w", err)
	}
	return nil
}

// Close closes the connections.
func (b *PGBudget) Close() { b.pool.Close() }
