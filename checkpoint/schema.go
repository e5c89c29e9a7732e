package checkpoint

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"sync"
)

// schemaVersion is stored in meta and checked at Open.
const schemaVersion = "1"

// ledgerSchema creates a ledger's tables. result keeps its key (an HMAC) in
// a UNIQUE index so Open can scan the keys alone.
const ledgerSchema = `
CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE job (id INTEGER PRIMARY KEY CHECK (id = 1), doc BLOB NOT NULL, sum INTEGER NOT NULL);
CREATE TABLE progress (id INTEGER PRIMARY KEY CHECK (id = 1), doc BLOB NOT NULL, sum INTEGER NOT NULL);
CREATE TABLE result (
	k BLOB NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	status TEXT NOT NULL,
	verdict TEXT NOT NULL,
	data BLOB,
	fetched INTEGER NOT NULL,
	sum INTEGER NOT NULL
);
CREATE TABLE pending (
	kind TEXT NOT NULL,
	handle TEXT NOT NULL,
	doc BLOB NOT NULL,
	sum INTEGER NOT NULL,
	PRIMARY KEY (kind, handle)
);
`

// keySet summarizes the set of result keys: how many there are and the XOR
// of all of them. It is stored with every commit and recomputed at Open, so a
// lost, added or bit-flipped key is detected even though SQLite's b-trees
// carry no checksums.
type keySet struct {
	N int64
	X [sha256.Size]byte
}

// add adds k to the set (the caller knows it was absent).
func (s *keySet) add(k []byte) {
	s.N++
	for i := range s.X {
		s.X[i] ^= k[i]
	}
}

func (s keySet) encode() []byte {
	b := make([]byte, 8, 8+len(s.X)+4)
	binary.BigEndian.PutUint64(b, uint64(s.N))
	b = append(b, s.X[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func decodeKeySet(b []byte) (keySet, error) {
	var s keySet
	if len(b) != 8+len(s.X)+4 || binary.BigEndian.Uint32(b[len(b)-4:]) != crc32.Checksum(b[:len(b)-4], crcTable) {
		return s, fmt.Errorf("%w: result key summary fails its checksum", ErrCorrupt)
	}
	s.N = int64(binary.BigEndian.Uint64(b))
	copy(s.X[:], b[8:])
	return s, nil
}

// keyer derives at-rest keys: HMAC-SHA256(secret, kind + "\x00" + key). It
// reuses its HMAC states (keys are derived for every result read and
// written).
type keyer struct {
	secret []byte
	macs   *sync.Pool // of hash.Hash
}

func newKeyer(secret []byte) keyer {
	return keyer{secret: secret, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}}
}

func (k keyer) key(kind, key string) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(key))
	out := m.Sum(make([]byte, 0, sha256.Size))
	k.macs.Put(m)
	return out
}

// summer computes a CRC-32C over length-prefixed fields.
type summer struct{ h hash.Hash32 }

func newSummer() summer { return summer{crc32.New(crcTable)} }

func (s summer) bytes(b []byte) summer {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	s.h.Write(n[:])
	s.h.Write(b)
	return s
}

func (s summer) str(v string) summer { return s.bytes([]byte(v)) }

func (s summer) int(v int64) summer {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(v))
	s.h.Write(n[:])
	return s
}

func (s summer) sum() int64 { return int64(s.h.Sum32()) }

func resultSum(k []byte, kind, status, verdict string, data []byte, fetched int64) int64 {
	return newSummer().bytes(k).str(kind).str(status).str(verdict).bytes(data).int(fetched).sum()
}

func docSum(parts ...string) int64 {
	s := newSummer()
	for _, p := range parts {
		s = s.str(p)
	}
	return s.sum()
}

// stmts are the writer's prepared statements.
type stmts struct {
	insResult, updResult, delPending, putPending, putProgress, putMeta *sql.Stmt
}

func prepareStmts(ctx context.Context, c *sql.Conn) (*stmts, error) {
	var s stmts
	for _, p := range []struct {
		dst **sql.Stmt
		q   string
	}{
		{&s.insResult, `INSERT OR IGNORE INTO result (k, kind, status, verdict, data, fetched, sum) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{&s.updResult, `UPDATE result SET kind = ?2, status = ?3, verdict = ?4, data = ?5, fetched = ?6, sum = ?7 WHERE k = ?1`},
		{&s.delPending, `DELETE FROM pending WHERE kind = ? AND handle = ?`},
		{&s.putPending, `INSERT INTO pending (kind, handle, doc, sum) VALUES (?, ?, ?, ?) ON CONFLICT (kind, handle) DO UPDATE SET doc = excluded.doc, sum = excluded.sum`},
		{&s.putProgress, `INSERT INTO progress (id, doc, sum) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, sum = excluded.sum`},
		{&s.putMeta, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`},
	} {
		st, err := c.PrepareContext(ctx, p.q)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: prepare: %w", sqlErr(err))
		}
		*p.dst = st
	}
	return &s, nil
}

func (s *stmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.insResult, s.updResult, s.delPending, s.putPending, s.putProgress, s.putMeta} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

func (s *stmts) putKeySet(ctx context.Context, ks keySet) error {
	_, err := s.putMeta.ExecContext(ctx, "keyset", ks.encode())
	return err
}
