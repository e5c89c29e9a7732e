package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/contactbatch/batch/pipeline"
)

// Defaults of a shared cache.
const (
	// DefaultClaimTTL is how long a claim on a key keeps other processes
	// from paying for it: long enough for one call with its retries, short
	// enough that a killed claimant's keys are taken over soon.
	DefaultClaimTTL = 2 * time.Minute
)

const pgCacheSchema = `
CREATE TABLE IF NOT EXISTS batch_cache (
	k BYTEA PRIMARY KEY,
	kind TEXT NOT NULL,
	status TEXT NOT NULL,
	verdict TEXT NOT NULL,
	data BYTEA,
	fetched BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	sum BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS batch_cache_expires ON batch_cache (expires);
ALTER TABLE batch_cache ADD COLUMN IF NOT EXISTS subj BYTEA;
ALTER TABLE batch_cache ADD COLUMN IF NOT EXISTS dom BYTEA;
CREATE INDEX IF NOT EXISTS batch_cache_subj ON batch_cache (subj);
CREATE INDEX IF NOT EXISTS batch_cache_dom ON batch_cache (dom);
CREATE TABLE IF NOT EXISTS batch_cache_claims (
	k BYTEA PRIMARY KEY,
	owner TEXT NOT NULL,
	expires BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_cache_secret (
	id INT PRIMARY KEY,
	secret BYTEA NOT NULL
);
`

// PGCacheOptions tune a shared cache. Zero values take the defaults.
type PGCacheOptions struct {
	// ClaimTTL is how long a claim lasts (DefaultClaimTTL).
	ClaimTTL time.Duration
	// Owner names this process in its claims (default: random).
	Owner string
	// Now is the clock for expiry of answers and claims (time.Now).
	Now func() time.Time
	// NoClaims makes Get only look: a miss claims nothing (for commands
	// that do not pay, such as estimate).
	NoClaims bool
}

// PGCache keeps API answers in PostgreSQL for every process of a job (the
// shards of a sharded run, and later runs) to share. It has the TTL
// semantics of Cache, with two differences that make it safe to share:
//
//   - Put is synchronous: when it returns nil the answer is committed, so a
//     row counted done after it never needs paying for again, even by a
//     replacement process on an empty disk.
//   - A Get that finds no answer claims the key for this process (an
//     insert-if-absent row with an expiry) before it reports the miss, so
//     the caller pays for the key; a Get that finds a live claim of another
//     process returns pipeline.ErrClaimed at once: the caller asks again
//     later (the lookup engine parks the row in its poll scheduler) and
//     gets that process's answer once it is Put, or takes the claim over
//     once it expires. Each key is thus paid for once across processes,
//     unless a claimant dies mid-call.
//
// Keys are stored as HMAC-SHA256 under a secret held in the same database.
// It is safe for concurrent use.
type PGCache struct {
	pool *pgxpool.Pool
	ttl  TTLPolicy
	key  keyer
	opts PGCacheOptions
}

// OpenPGCache connects to the PostgreSQL database at url, creates the
// cache tables if needed and deletes expired answers and claims.
func OpenPGCache(ctx context.Context, url string, ttl TTLPolicy, opts PGCacheOptions) (*PGCache, error) {
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = DefaultClaimTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Owner == "" {
		b := make([]byte, 8)
		rand.Read(b)
		opts.Owner = hex.EncodeToString(b)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: shared cache url: %w", err) // pgconn redacts the password
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "batch-cache"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: shared cache: %w", err)
	}
	c := &PGCache{pool: pool, ttl: ttl, opts: opts}
	if err := c.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return c, nil
}

// migrate creates the tables under an advisory lock (concurrent first
// opens by several shards must not race on the DDL), loads or creates the
// key secret and purges expired rows.
func (c *PGCache) migrate(ctx context.Context) error {
	secret := make([]byte, 32)
	rand.Read(secret)
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7361029)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, pgCacheSchema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO batch_cache_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, secret); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT secret FROM batch_cache_secret WHERE id = 1`).Scan(&secret); err != nil {
			return err
		}
		now := c.opts.Now().UnixNano()
		if _, err := tx.Exec(ctx, `DELETE FROM batch_cache WHERE expires <= $1`, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM batch_cache_claims WHERE expires <= $1`, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("checkpoint: shared cache: create tables: %w", err)
	}
	if len(secret) != 32 {
		return fmt.Errorf("%w: shared cache secret has %d bytes", ErrCorrupt, len(secret))
	}
	c.key = newKeyer(secret)
	return nil
}

// Get returns the answer for (kind, key), or nil, nil after claiming the
// key for this process when there is none (the caller is to pay for it and
// Put the answer). While another process holds a live claim on the key it
// returns an error matching pipeline.ErrClaimed, without waiting.
func (c *PGCache) Get(ctx context.Context, kind pipeline.Kind, key string) (*pipeline.StoredResult, error) {
	k := c.key.key(string(kind), key)
	r, err := c.answer(ctx, k, kind, key)
	if err != nil || r != nil || c.opts.NoClaims {
		return r, err
	}
	mine, err := c.claim(ctx, k)
	if err != nil {
		return nil, err
	}
	if !mine {
		return nil, pipeline.ErrClaimed
	}
	// The claim may be free because its holder has just answered (its
	// answer and the claim's removal commit together): look again now
	// that no one else can claim it.
	r, err = c.answer(ctx, k, kind, key)
	if err != nil || r == nil {
		return r, err
	}
	if _, err := c.pool.Exec(ctx, `DELETE FROM batch_cache_claims WHERE k = $1 AND owner = $2`, k, c.opts.Owner); err != nil {
		return nil, fmt.Errorf("checkpoint: shared cache: release claim: %w", err)
	}
	return r, nil
}

// answer reads a live answer, or nil.
func (c *PGCache) answer(ctx context.Context, k []byte, kind pipeline.Kind, key string) (*pipeline.StoredResult, error) {
	var (
		r       = pipeline.StoredResult{Key: key}
		rkind   string
		data    []byte
		fetched int64
		sum     int64
	)
	err := c.pool.QueryRow(ctx, `SELECT kind, status, verdict, data, fetched, sum FROM batch_cache WHERE k = $1`, k).
		Scan(&rkind, &r.Status, &r.Verdict, &data, &fetched, &sum)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: shared cache: read: %w", err)
	}
	r.Kind = pipeline.Kind(rkind)
	if resultSum(k, rkind, r.Status, r.Verdict, data, fetched) != sum || r.Kind != kind {
		return nil, fmt.Errorf("%w: a %s entry in the shared cache fails its checksum", ErrCorrupt, kind)
	}
	r.Data = data
	r.FetchedAt = time.Unix(0, fetched).UTC()
	if ttl := c.ttl.TTL(r.Verdict); ttl <= 0 || !c.opts.Now().Before(r.FetchedAt.Add(ttl)) {
		return nil, nil
	}
	return &r, nil
}

// claim takes the claim on k unless another owner holds a live one; it
// reports whether this process holds it now.
func (c *PGCache) claim(ctx context.Context, k []byte) (bool, error) {
	now := c.opts.Now()
	tag, err := c.pool.Exec(ctx, `INSERT INTO batch_cache_claims (k, owner, expires) VALUES ($1, $2, $3)
		ON CONFLICT (k) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE batch_cache_claims.owner = excluded.owner OR batch_cache_claims.expires <= $4`,
		k, c.opts.Owner, now.Add(c.opts.ClaimTTL).UnixNano(), now.UnixNano())
	if err != nil {
		return false, fmt.Errorf("checkpoint: shared cache: claim: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Put commits r (FetchedAt defaults to now) and drops the claim on its key.
// A result whose verdict has no positive TTL is not stored, but its claim
// is dropped all the same so that others need not wait for it to expire.
func (c *PGCache) Put(ctx context.Context, r pipeline.StoredResult) error {
	if r.Kind == "" || r.Key == "" {
		return errors.New("checkpoint: cache entry needs a kind and a key")
	}
	if r.FetchedAt.IsZero() {
		r.FetchedAt = c.opts.Now()
	}
	k := c.key.key(string(r.Kind), r.Key)
	ttl := c.ttl.TTL(r.Verdict)
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if ttl > 0 {
			f := r.FetchedAt.UnixNano()
			data := []byte(r.Data)
			subj, dom := subjectsOf(c.key, string(r.Kind), r.Key)
			if _, err := tx.Exec(ctx, `INSERT INTO batch_cache (k, kind, status, verdict, data, fetched, expires, sum, subj, dom)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (k) DO UPDATE SET kind = excluded.kind, status = excluded.status, verdict = excluded.verdict,
				data = excluded.data, fetched = excluded.fetched, expires = excluded.expires, sum = excluded.sum,
				subj = excluded.subj, dom = excluded.dom`,
				k, string(r.Kind), r.Status, r.Verdict, data, f, r.FetchedAt.Add(ttl).UnixNano(),
				resultSum(k, string(r.Kind), r.Status, r.Verdict, data, f), subj, dom); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM batch_cache_claims WHERE k = $1 AND owner = $2`, k, c.opts.Owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("checkpoint: shared cache: write: %w", err)
	}
	return nil
}

// Purge deletes every shared answer about the contact with the given
// email address or, with domain set, about every contact of that domain
// and the organization itself, as Cache.Purge does, and returns how many
// it deleted. Answers stored before the cache kept their subjects (an
// older batch) are not found; they expire by their time to live.
func (c *PGCache) Purge(ctx context.Context, email, domain string) (int64, error) {
	col, mac, err := purgeSubject(c.key, email, domain)
	if err != nil {
		return 0, err
	}
	tag, err := c.pool.Exec(ctx, `DELETE FROM batch_cache WHERE `+col+` = $1`, mac)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: shared cache: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Close releases this process's claims (keys it claimed but never
// answered, e.g. because the run stopped) and closes the connections.
func (c *PGCache) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.pool.Exec(ctx, `DELETE FROM batch_cache_claims WHERE owner = $1`, c.opts.Owner)
	c.pool.Close()
	if err != nil {
		return fmt.Errorf("checkpoint: shared cache: release claims: %w", err)
	}
	return nil
}
