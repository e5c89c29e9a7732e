package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/contactbatch/batch/pipeline"
)

// Default cache settings.
const (
	// DefaultCacheQueue is how many Puts may wait to be written.
	DefaultCacheQueue = 1024
	// DefaultCacheTTL is the time to live of a verdict the policy does not name.
	DefaultCacheTTL = 30 * 24 * time.Hour
)

// TTLPolicy says how long a cached result stays valid, by its Verdict. A
// zero or negative duration means "never cache".
type TTLPolicy struct {
	Default   time.Duration
	ByVerdict map[string]time.Duration
}

// DefaultTTLPolicy keeps definite answers 30 days, "not found" 7 days and
// "unknown" 1 day, and never caches "pending".
func DefaultTTLPolicy() TTLPolicy {
	const day = 24 * time.Hour
	return TTLPolicy{
		Default: DefaultCacheTTL,
		ByVerdict: map[string]time.Duration{
			"deliverable":   30 * day,
			"undeliverable": 30 * day,
			"invalid":       30 * day,
			"risky":         30 * day,
			"catch_all":     30 * day,
			"found":         30 * day,
			"not_found":     7 * day,
			"unknown":       1 * day,
			"pending":       0,
		},
	}
}

// TTL returns the time to live of a result with the given verdict.
func (p TTLPolicy) TTL(verdict string) time.Duration {
	if d, ok := p.ByVerdict[verdict]; ok {
		return d
	}
	return p.Default
}

const cacheSchema = `
CREATE TABLE IF NOT EXISTS cache (
	k BLOB NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	status TEXT NOT NULL,
	verdict TEXT NOT NULL,
	data BLOB,
	fetched INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	sum INTEGER NOT NULL,
	subj BLOB,
	dom BLOB
);
CREATE INDEX IF NOT EXISTS cache_expires ON cache (expires);
`

// cacheSubjects adds the columns that name an entry's contact (keyed MACs
// of its email address and of its domain, see subjects) to a cache made
// before them, and the indexes that Purge uses. Entries made before them
// were keyed without a scope (see ForRun), so no run can be served them
// again: they are deleted rather than kept unpurgeable.
const cacheSubjects = `
CREATE INDEX IF NOT EXISTS cache_subj ON cache (subj);
CREATE INDEX IF NOT EXISTS cache_dom ON cache (dom);
`

// Cache keeps API results across runs in one SQLite file that several
// processes may share. Keys are stored as HMAC-SHA256 with a per-install
// secret kept in path+".secret". It is safe for concurrent use.
type Cache struct {
	// Now is the clock used for expiry (default time.Now). Set it before
	// first use.
	Now func() time.Time

	path string
	ttl  TTLPolicy
	key  keyer
	wdb  *sql.DB
	rdb  *sql.DB
	get  *sql.Stmt

	queue chan cacheEntry
	done  chan struct{}

	mu        sync.RWMutex // guards closed and the send on queue
	closed    bool
	umu       sync.Mutex
	unflushed map[string]cacheEntry // by k, until written
	err       error                 // first write error, under umu
}

type cacheEntry struct {
	k       []byte
	subj    []byte // see subjects; nil when the key names no email
	dom     []byte // nil when the key names no domain
	r       pipeline.StoredResult
	seq     uint64
	expires int64
}

// OpenCache opens (creating if needed) the cache file at path with the given
// TTL policy and deletes expired entries. The file is 0600; its directory,
// if created, 0700.
func OpenCache(ctx context.Context, path string, ttl TTLPolicy) (_ *Cache, err error) {
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("checkpoint: create cache directory: %w", err)
	}
	secret, err := loadSecret(path + ".secret")
	if err != nil {
		return nil, err
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("checkpoint: create cache %s: %w", path, err)
	}
	c := &Cache{Now: time.Now, path: path, ttl: ttl, key: newKeyer(secret), unflushed: map[string]cacheEntry{}}
	defer func() {
		if err != nil {
			c.closeDBs()
		}
	}()
	if c.wdb, err = openDB(ctx, dsn(path, dsnWriter, syncNormal), 1); err != nil {
		return nil, c.dbErr("open", err)
	}
	if err := chmodSidecars(path); err != nil {
		return nil, fmt.Errorf("checkpoint: chmod cache %s: %w", path, err)
	}
	if _, err := c.wdb.ExecContext(ctx, cacheSchema); err != nil {
		return nil, c.dbErr("create schema in", err)
	}
	if err := c.migrateSubjects(ctx); err != nil {
		return nil, err
	}
	if _, err := c.wdb.ExecContext(ctx, `DELETE FROM cache WHERE expires <= ?`, time.Now().UnixNano()); err != nil {
		return nil, c.dbErr("purge", err)
	}
	if c.rdb, err = openDB(ctx, dsn(path, dsnReader, syncNormal), DefaultReaders); err != nil {
		return nil, c.dbErr("open", err)
	}
	if c.get, err = c.rdb.PrepareContext(ctx, `SELECT kind, status, verdict, data, fetched, sum FROM cache WHERE k = ?`); err != nil {
		return nil, c.dbErr("prepare", err)
	}
	c.queue = make(chan cacheEntry, DefaultCacheQueue)
	c.done = make(chan struct{})
	go c.flusher()
	return c, nil
}

func (c *Cache) dbErr(what string, err error) error {
	return sqlErr(fmt.Errorf("checkpoint: %s cache %s: %w", what, c.path, err))
}

// Get returns the cached result for (kind, key), or nil, nil when there is
// none or it has expired under the policy. It sees Puts not yet written.
func (c *Cache) Get(ctx context.Context, kind pipeline.Kind, key string) (*pipeline.StoredResult, error) {
	k := c.key.key(string(kind), key)
	now := c.Now()
	c.umu.Lock()
	e, ok := c.unflushed[string(k)]
	c.umu.Unlock()
	if ok {
		r := e.r
		r.Key = key
		return c.fresh(r, now), nil
	}
	var (
		r       = pipeline.StoredResult{Key: key}
		data    []byte
		fetched int64
		sum     int64
	)
	err := c.get.QueryRowContext(ctx, k).Scan(&r.Kind, &r.Status, &r.Verdict, &data, &fetched, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, c.dbErr("read", err)
	}
	if resultSum(k, string(r.Kind), r.Status, r.Verdict, data, fetched) != sum || r.Kind != kind {
		return nil, fmt.Errorf("%w: a %s entry in cache %s fails its checksum", ErrCorrupt, kind, c.path)
	}
	if data != nil {
		r.Data = data
	}
	r.FetchedAt = time.Unix(0, fetched).UTC()
	return c.fresh(r, now), nil
}

// fresh returns &r unless it expired at now.
func (c *Cache) fresh(r pipeline.StoredResult, now time.Time) *pipeline.StoredResult {
	if ttl := c.ttl.TTL(r.Verdict); ttl <= 0 || !now.Before(r.FetchedAt.Add(ttl)) {
		return nil
	}
	return &r
}

// Put stores r (FetchedAt defaults to Now). It is written asynchronously,
// batched with other Puts; Close flushes and reports a write error, as does
// the next Put. Results whose verdict has no positive TTL are not stored.
func (c *Cache) Put(ctx context.Context, r pipeline.StoredResult) error {
	if r.Kind == "" || r.Key == "" {
		return errors.New("checkpoint: cache entry needs a kind and a key")
	}
	if r.FetchedAt.IsZero() {
		r.FetchedAt = c.Now()
	}
	r.FetchedAt = r.FetchedAt.UTC()
	ttl := c.ttl.TTL(r.Verdict)
	if ttl <= 0 {
		return nil
	}
	r.Data = slices.Clone(r.Data)
	e := cacheEntry{k: c.key.key(string(r.Kind), r.Key), r: r, expires: r.FetchedAt.Add(ttl).UnixNano()}
	e.subj, e.dom = c.subjects(string(r.Kind), r.Key)
	e.r.Key = ""
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errors.New("checkpoint: cache is closed")
	}
	c.umu.Lock()
	if err := c.err; err != nil {
		c.umu.Unlock()
		return err
	}
	e.seq = c.unflushed[string(e.k)].seq + 1
	c.unflushed[string(e.k)] = e
	c.umu.Unlock()
	select {
	case c.queue <- e:
		return nil
	case <-ctx.Done():
		c.umu.Lock()
		if c.unflushed[string(e.k)].seq == e.seq {
			delete(c.unflushed, string(e.k))
		}
		c.umu.Unlock()
		return ctx.Err()
	}
}

// flusher writes queued entries, as many per transaction as are waiting.
func (c *Cache) flusher() {
	defer close(c.done)
	batch := make([]cacheEntry, 0, DefaultCacheQueue)
	for e := range c.queue {
		batch = append(batch[:0], e)
	drain:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-c.queue:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		err := c.write(batch)
		c.umu.Lock()
		if err != nil && c.err == nil {
			c.err = err
		}
		for _, e := range batch {
			if u, ok := c.unflushed[string(e.k)]; ok && u.seq == e.seq {
				delete(c.unflushed, string(e.k))
			}
		}
		c.umu.Unlock()
	}
}

func (c *Cache) write(batch []cacheEntry) error {
	ctx := context.Background()
	tx, err := c.wdb.BeginTx(ctx, nil)
	if err != nil {
		return c.dbErr("begin write to", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO cache (k, kind, status, verdict, data, fetched, expires, sum, subj, dom) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (k) DO UPDATE SET kind = excluded.kind, status = excluded.status, verdict = excluded.verdict,
		data = excluded.data, fetched = excluded.fetched, expires = excluded.expires, sum = excluded.sum,
		subj = excluded.subj, dom = excluded.dom`)
	if err != nil {
		return c.dbErr("write to", err)
	}
	defer st.Close()
	for _, e := range batch {
		var data []byte
		if e.r.Data != nil {
			data = e.r.Data
		}
		f := e.r.FetchedAt.UnixNano()
		if _, err := st.ExecContext(ctx, e.k, string(e.r.Kind), e.r.Status, e.r.Verdict, data, f, e.expires,
			resultSum(e.k, string(e.r.Kind), e.r.Status, e.r.Verdict, data, f), e.subj, e.dom); err != nil {
			return c.dbErr("write to", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return c.dbErr("commit to", err)
	}
	return nil
}

// Close writes every queued Put, closes the file and returns the first
// write error, if any.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.queue)
	c.mu.Unlock()
	<-c.done
	c.umu.Lock()
	err := c.err
	c.umu.Unlock()
	if cerr := c.closeDBs(); err == nil && cerr != nil {
		err = fmt.Errorf("checkpoint: close cache %s: %w", c.path, cerr)
	}
	return err
}

func (c *Cache) closeDBs() error {
	var errs []error
	if c.get != nil {
		errs = append(errs, c.get.Close())
	}
	if c.rdb != nil {
		errs = append(errs, c.rdb.Close())
	}
	if c.wdb != nil {
		errs = append(errs, c.wdb.Close())
	}
	return errors.Join(errs...)
}
