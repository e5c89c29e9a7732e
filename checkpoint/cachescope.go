package checkpoint

import (
	"context"
	"fmt"
	"strings"
)

// CacheScope is what, besides a lookup's kind and key, changes its answer:
// the API's base URL, the tenant (a fingerprint of its key) and the request
// options of each kind (for example person lookups with mobile numbers).
// An answer cached under one scope is never served under another. The
// scope is part of the keyed MAC the cache stores, never stored itself.
type CacheScope map[string]string

// key is the cache key of (kind, key) under the scope.
func (s CacheScope) key(kind, key string) string {
	if sc := s[kind]; sc != "" {
		return sc + "\x00" + key
	}
	return key
}

// subjects returns the keyed MACs naming the contact behind a lookup key:
// its email address ("email:…" keys, and verify keys, which are bare
// addresses) and its domain (the address's, or a "domain:…" key's). Purge
// deletes by them. The scope prefix (see CacheScope) is ignored.
func (c *Cache) subjects(kind, key string) (subj, dom []byte) { return subjectsOf(c.key, kind, key) }

// subjectsOf is subjects under the keyer k (a Cache's or a PGCache's).
func subjectsOf(k keyer, kind, key string) (subj, dom []byte) {
	if i := strings.LastIndexByte(key, 0); i >= 0 {
		key = key[i+1:]
	}
	email, domain := lookupSubjects(kind, key)
	if email != "" {
		subj = k.key("subject-email", email)
	}
	if domain != "" {
		dom = k.key("subject-domain", domain)
	}
	return subj, dom
}

// purgeSubject returns the column and the keyed MAC that Purge deletes
// by: the subj of an email address, else the dom of a domain.
func purgeSubject(k keyer, email, domain string) (column string, mac []byte, err error) {
	switch {
	case email != "":
		e, _ := lookupSubjects("verify", email)
		return "subj", k.key("subject-email", e), nil
	case domain != "":
		return "dom", k.key("subject-domain", strings.ToLower(strings.TrimSpace(domain))), nil
	}
	return "", nil, fmt.Errorf("checkpoint: purge needs an email address or a domain")
}

// lookupSubjects returns the email and domain a lookup key names.
func lookupSubjects(kind, key string) (email, domain string) {
	switch {
	case strings.HasPrefix(key, "email:"):
		email = key[len("email:"):]
	case strings.HasPrefix(key, "domain:"):
		return "", strings.ToLower(key[len("domain:"):])
	case kind == "verify":
		email = key
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		domain = email[at+1:]
	}
	return email, domain
}

// migrateSubjects adds the subj and dom columns to a cache made before
// them (see cacheSubjects).
func (c *Cache) migrateSubjects(ctx context.Context) error {
	rows, err := c.wdb.QueryContext(ctx, `SELECT name FROM pragma_table_info('cache')`)
	if err != nil {
		return c.dbErr("read schema of", err)
	}
	has := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return c.dbErr("read schema of", err)
		}
		has[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c.dbErr("read schema of", err)
	}
	if !has["subj"] {
		tx, err := c.wdb.BeginTx(ctx, nil)
		if err != nil {
			return c.dbErr("migrate", err)
		}
		defer tx.Rollback()
		for _, q := range []string{`DELETE FROM cache`, `ALTER TABLE cache ADD COLUMN subj BLOB`, `ALTER TABLE cache ADD COLUMN dom BLOB`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return c.dbErr("migrate", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return c.dbErr("migrate", err)
		}
	}
	if _, err := c.wdb.ExecContext(ctx, cacheSubjects); err != nil {
		return c.dbErr("migrate", err)
	}
	return nil
}

// Purge deletes every cached answer about the contact with the given email
// address (verify and person lookups by that address) or, with domain set,
// about every contact of that domain and the organization itself. It
// returns how many entries it deleted. Lookups by LinkedIn URL name no
// email and are not found by Purge. Answers Put by this Cache and not yet
// written may survive: purge with a Cache of its own.
func (c *Cache) Purge(ctx context.Context, email, domain string) (int64, error) {
	c.mu.RLock()
	closed := c.closed
	c.mu.RUnlock()
	if closed {
		return 0, fmt.Errorf("checkpoint: cache is closed")
	}
	col, mac, err := purgeSubject(c.key, email, domain)
	if err != nil {
		return 0, err
	}
	res, err := c.wdb.ExecContext(ctx, `DELETE FROM cache WHERE `+col+` = ?`, mac)
	if err != nil {
		return 0, c.dbErr("purge", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
