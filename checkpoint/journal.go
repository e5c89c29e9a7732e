package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// The results log (results.log) is where PutResult makes an answer durable:
// an append-only file of checksummed records, group-committed with one
// write(2) per batch, indexed in memory by key. Appending a record costs a
// few microseconds where a SQLite insert with a random key costs tens; the
// log is moved into the database's result table in large transactions,
// in key order, only when it holds DefaultRotateAt records ("rotation"), so
// memory stays bounded however many results a job stores.
//
// File layout: a header (magic, the ledger id, the generation, CRC-32C),
// then records: payload length (uint32), CRC-32C of the payload (uint32),
// payload (the 32-byte key HMAC, kind, status, verdict, data, fetched).
//
// The database's meta row "rlog" records the log's generation, the offset up
// to which records were moved into the database (applied) and the length
// that the last Commit covered (committed, fsynced before that Commit).
// Every record below committed must be intact, else ErrCorrupt; records
// after it are the tail written since the last Commit, and a torn or
// damaged tail is cut off at Open (it can only hold answers whose rows were
// not committed, which a resume asks again).
const (
	journalName      = "results.log"
	journalMagic     = "BRLOG\x00\x00\x01"
	journalIDLen     = 32 // the ledger id, hex
	journalHeaderLen = len(journalMagic) + journalIDLen + 8 + 4
	recHeaderLen     = 8
	maxRecordLen     = 64 << 20
	// DefaultRotateAt is how many records the results log holds before they
	// are moved into the database.
	DefaultRotateAt = 1 << 18
)

// journalMeta is the meta row "rlog".
type journalMeta struct {
	Gen, Applied, Committed int64
}

func newJournalMeta(gen int64) journalMeta {
	return journalMeta{Gen: gen, Applied: int64(journalHeaderLen), Committed: int64(journalHeaderLen)}
}

func (m journalMeta) encode() []byte {
	b := make([]byte, 0, 28)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Gen))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Applied))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Committed))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func decodeJournalMeta(b []byte) (journalMeta, error) {
	if len(b) != 28 || binary.BigEndian.Uint32(b[24:]) != crc32.Checksum(b[:24], crcTable) {
		return journalMeta{}, fmt.Errorf("%w: results log summary fails its checksum", ErrCorrupt)
	}
	m := journalMeta{
		Gen:       int64(binary.BigEndian.Uint64(b)),
		Applied:   int64(binary.BigEndian.Uint64(b[8:])),
		Committed: int64(binary.BigEndian.Uint64(b[16:])),
	}
	hdr := int64(journalHeaderLen)
	if m.Gen < 1 || m.Applied < hdr || m.Committed < hdr {
		return m, fmt.Errorf("%w: results log summary is out of range", ErrCorrupt)
	}
	return m, nil
}

func journalHeader(ledgerID string, gen int64) []byte {
	b := make([]byte, 0, journalHeaderLen)
	b = append(b, journalMagic...)
	id := make([]byte, journalIDLen)
	copy(id, ledgerID)
	b = append(b, id...)
	b = binary.BigEndian.AppendUint64(b, uint64(gen))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// record is one decoded results-log record.
type record struct {
	k                     []byte
	kind, status, verdict string
	data                  []byte // nil when stored nil
	fetched               int64
}

type keyPrefix [16]byte

func prefixOf(k []byte) (p keyPrefix) {
	copy(p[:], k)
	return p
}

func appendRecord(dst []byte, r record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recHeaderLen)...)
	dst = append(dst, r.k...)
	for _, s := range []string{r.kind, r.status, r.verdict} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	if r.data == nil {
		dst = binary.AppendUvarint(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(r.data))+1)
		dst = append(dst, r.data...)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.fetched))
	payload := dst[start+recHeaderLen:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

var errBadRecord = errors.New("malformed record")

func decodeRecord(p []byte) (record, error) {
	var r record
	if len(p) < 32 {
		return r, errBadRecord
	}
	r.k, p = p[:32:32], p[32:]
	for _, dst := range []*string{&r.kind, &r.status, &r.verdict} {
		n, w := uvarint(p)
		if w <= 0 || uint64(len(p)-w) < n {
			return r, errBadRecord
		}
		*dst, p = string(p[w:w+int(n)]), p[w+int(n):]
	}
	n, w := uvarint(p)
	if w <= 0 {
		return r, errBadRecord
	}
	p = p[w:]
	if n > 0 {
		l := n - 1
		if uint64(len(p)) < l {
			return r, errBadRecord
		}
		r.data, p = p[:l:l], p[l:]
	}
	if len(p) != 8 {
		return r, errBadRecord
	}
	r.fetched = int64(binary.BigEndian.Uint64(p))
	return r, nil
}

// uvarint is binary.Uvarint refusing (w = 0) a varint that is not in its
// shortest form (a last byte of 0 after the first), which appendRecord
// never writes: every payload then has one reading and one encoding.
func uvarint(p []byte) (uint64, int) {
	n, w := binary.Uvarint(p)
	if w > 1 && p[w-1] == 0 {
		return 0, 0
	}
	return n, w
}

// journal is an open results log.
type journal struct {
	path     string
	ledgerID string
	readOnly bool

	fileMu sync.RWMutex // read-held while reading f; write-held to replace f
	f      *os.File

	mu        sync.Mutex
	index     map[keyPrefix]int64 // latest record offset per key prefix
	end       int64               // offset after the last complete record
	cur       *jbatch             // records waiting for the next write
	spare     []byte              // a written batch's buffers, for reuse
	spareRecs []jrec
	flushing  bool       // a leader is writing (or the log is paused)
	err       error      // sticky write error
	idle      *sync.Cond // on mu: broadcast when flushing ends

	rot  sync.Mutex  // serializes Commit snapshots, rotation and reset
	meta journalMeta // the meta row as last committed; guarded by rot
}

// jbatch is one group-committed write.
type jbatch struct {
	buf  []byte
	recs []jrec
	done chan struct{}
	err  error
}

type jrec struct {
	p   keyPrefix
	off int64 // within buf
}

// openJournal opens the results log of a ledger whose meta row says m. It
// indexes the records from m.Applied on, checks that everything up to
// m.Committed is intact and cuts a torn tail after it (not when readOnly).
// It returns the number of records indexed.
func openJournal(dir, ledgerID string, m journalMeta, readOnly bool) (*journal, int, error) {
	j := &journal{path: filepath.Join(dir, journalName), ledgerID: ledgerID, readOnly: readOnly, index: map[keyPrefix]int64{}, meta: m}
	j.idle = sync.NewCond(&j.mu)
	hdr := int64(journalHeaderLen)
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(j.path, flag, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if m.Committed > hdr || m.Applied > hdr {
			return nil, 0, fmt.Errorf("%w: %s is missing but the ledger records results in it", ErrCorrupt, j.path)
		}
		return j.empty(m.Gen)
	case err != nil:
		return nil, 0, fmt.Errorf("checkpoint: open %s: %w", j.path, err)
	}
	j.f = f
	head := make([]byte, journalHeaderLen)
	_, herr := io.ReadFull(f, head)
	gen := int64(binary.BigEndian.Uint64(head[len(journalMagic)+journalIDLen:]))
	switch {
	case herr == nil && string(head) == string(journalHeader(ledgerID, gen)) && gen == m.Gen:
	case herr == nil && string(head) == string(journalHeader(ledgerID, gen)) && gen == m.Gen-1 && m.Committed == hdr && m.Applied == hdr:
		// A rotation or reset committed in the database; replacing the
		// (fully applied or discarded) file did not happen.
		f.Close()
		j.f = nil
		return j.empty(m.Gen)
	case readOnly && herr == nil && string(head) == string(journalHeader(ledgerID, gen)) && gen == m.Gen+1:
		// A reader (batch status) raced a rotation in the running process.
		f.Close()
		j.f = nil
		return nil, 0, fmt.Errorf("checkpoint: %s moved to a new generation while it was read; try again", j.path)
	default:
		f.Close()
		j.f = nil
		return nil, 0, fmt.Errorf("%w: %s has a damaged header or belongs to another ledger or generation", ErrCorrupt, j.path)
	}
	n, err := j.index0(f, m)
	if err != nil {
		f.Close()
		j.f = nil
		return nil, 0, err
	}
	return j, n, nil
}

// index0 indexes f from m.Applied on and checks it against m (see
// openJournal).
func (j *journal) index0(f *os.File, m journalMeta) (int, error) {
	n, end, err := j.scan(m.Applied, func(off, _ int64, r record) { j.index[prefixOf(r.k)] = off })
	if err != nil {
		return 0, err
	}
	if end < m.Committed {
		return 0, fmt.Errorf("%w: %s holds %d intact bytes of results, the ledger's last commit recorded %d", ErrCorrupt, j.path, end, m.Committed)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("checkpoint: stat %s: %w", j.path, err)
	}
	if fi.Size() < end {
		return 0, fmt.Errorf("%w: %s is shorter than the results already moved from it", ErrCorrupt, j.path)
	}
	j.end = end
	if !j.readOnly && fi.Size() != end {
		// The tail written after the last commit is torn: cut it.
		if err := f.Truncate(end); err != nil {
			return 0, fmt.Errorf("checkpoint: truncate torn tail of %s: %w", j.path, err)
		}
	}
	return n, nil
}

// empty makes j an empty log of generation gen: a new file, or, read-only,
// nothing to read.
func (j *journal) empty(gen int64) (*journal, int, error) {
	if j.readOnly {
		j.end = int64(journalHeaderLen)
		return j, 0, nil
	}
	if err := j.create(gen); err != nil {
		return nil, 0, err
	}
	return j, 0, nil
}

// scan reads records from off to the end of the file, calling fn with each
// record's offset, the offset after it and the record (whose slices are
// only valid during the call).
// It stops at the first torn or damaged record and returns the count and
// the offset after the last good one.
func (j *journal) scan(off int64, fn func(off, next int64, r record)) (int, int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(j.f, off, 1<<62), 256<<10)
	var hdr [recHeaderLen]byte
	var buf []byte
	n := 0
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, off, nil
			}
			return n, off, fmt.Errorf("checkpoint: read %s: %w", j.path, err)
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size < 32 || size > maxRecordLen {
			return n, off, nil
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, off, nil
			}
			return n, off, fmt.Errorf("checkpoint: read %s: %w", j.path, err)
		}
		if crc32.Checksum(buf, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			return n, off, nil
		}
		r, err := decodeRecord(buf)
		if err != nil {
			return n, off, nil
		}
		next := off + recHeaderLen + int64(size)
		fn(off, next, r)
		n++
		off = next
	}
}

// create replaces the log with an empty one of generation gen: written
// aside, fsynced and renamed into place (writeFileAtomic).
func (j *journal) create(gen int64) error {
	if err := writeFileAtomic(j.path, journalHeader(j.ledgerID, gen)); err != nil {
		return fmt.Errorf("checkpoint: create %s: %w", j.path, err)
	}
	f, err := os.OpenFile(j.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("checkpoint: open %s: %w", j.path, err)
	}
	// The file and its index change together: a reader holds fileMu from
	// its index lookup to its read.
	j.fileMu.Lock()
	j.mu.Lock()
	old := j.f
	j.f = f
	j.index = map[keyPrefix]int64{}
	j.end = int64(journalHeaderLen)
	j.err = nil
	j.mu.Unlock()
	j.fileMu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// fail makes err sticky: every later append and sync returns it, so a log
// whose state on disk is uncertain is not written to again in this
// process (reopening recovers).
func (j *journal) fail(err error) {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.mu.Unlock()
}

// append writes r and returns when it is in the file, group-committed with
// concurrent appends: the first caller to find no write in progress writes
// everything queued, the others wait for it.
func (j *journal) append(r record) error {
	p := prefixOf(r.k)
	j.mu.Lock()
	if j.err != nil {
		err := j.err
		j.mu.Unlock()
		return err
	}
	b := j.cur
	if b == nil {
		b = &jbatch{done: make(chan struct{}), buf: j.spare[:0], recs: j.spareRecs[:0]}
		j.spare, j.spareRecs = nil, nil
		j.cur = b
	}
	b.recs = append(b.recs, jrec{p: p, off: int64(len(b.buf))})
	b.buf = appendRecord(b.buf, r)
	if j.flushing {
		j.mu.Unlock()
		<-b.done
		return b.err
	}
	j.flushing = true
	j.flushLocked()
	j.flushing = false
	j.idle.Broadcast()
	j.mu.Unlock()
	return b.err
}

// flushLocked writes queued batches until none is left. j.mu is held on
// entry and exit, released while writing.
func (j *journal) flushLocked() {
	for j.cur != nil {
		b := j.cur
		j.cur = nil
		off := j.end
		j.mu.Unlock()
		j.fileMu.RLock()
		_, err := j.f.WriteAt(b.buf, off)
		j.fileMu.RUnlock()
		j.mu.Lock()
		if err != nil {
			j.err = fmt.Errorf("checkpoint: append to %s: %w", j.path, err)
			b.err = j.err
		} else if j.err != nil {
			b.err = j.err
		} else {
			for _, r := range b.recs {
				j.index[r.p] = off + r.off
			}
			j.end = off + int64(len(b.buf))
		}
		close(b.done)
		// Waiters only read b.err: the buffers serve the next batch.
		j.spare, j.spareRecs = b.buf[:0], b.recs[:0]
		b.buf, b.recs = nil, nil
	}
}

// pause waits for the write in progress and holds further appends queued
// until resume.
func (j *journal) pause() {
	j.mu.Lock()
	for j.flushing {
		j.idle.Wait()
	}
	j.flushing = true
	j.mu.Unlock()
}

// resume writes what was queued while paused and lets appends go on.
func (j *journal) resume() {
	j.mu.Lock()
	j.flushLocked()
	j.flushing = false
	j.idle.Broadcast()
	j.mu.Unlock()
}

// get returns the latest record for p, if the log holds one.
func (j *journal) get(p keyPrefix) (record, bool, error) {
	j.fileMu.RLock()
	defer j.fileMu.RUnlock()
	j.mu.Lock()
	off, ok := j.index[p]
	j.mu.Unlock()
	if !ok {
		return record{}, false, nil
	}
	r, err := j.readLocked(off)
	return r, err == nil, err
}

// len returns the number of keys indexed.
func (j *journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.index)
}

// endOffset returns the offset after the last complete record.
func (j *journal) endOffset() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.end
}

// read returns the record at off. A damaged record is ErrCorrupt. The
// caller makes sure the file is not replaced meanwhile (holds rot).
func (j *journal) read(off int64) (record, error) {
	j.fileMu.RLock()
	defer j.fileMu.RUnlock()
	return j.readLocked(off)
}

// readLocked is read with fileMu held.
func (j *journal) readLocked(off int64) (record, error) {
	if j.f == nil {
		return record{}, errClosed
	}
	var hdr [recHeaderLen]byte
	if _, err := j.f.ReadAt(hdr[:], off); err != nil {
		return record{}, fmt.Errorf("%w: read a result from %s: %v", ErrCorrupt, j.path, err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size < 32 || size > maxRecordLen {
		return record{}, fmt.Errorf("%w: a result in %s has a damaged length", ErrCorrupt, j.path)
	}
	buf := make([]byte, size)
	if _, err := j.f.ReadAt(buf, off+recHeaderLen); err != nil {
		return record{}, fmt.Errorf("%w: read a result from %s: %v", ErrCorrupt, j.path, err)
	}
	if crc32.Checksum(buf, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return record{}, fmt.Errorf("%w: a result in %s fails its checksum", ErrCorrupt, j.path)
	}
	r, err := decodeRecord(buf)
	if err != nil {
		return record{}, fmt.Errorf("%w: a result in %s is malformed", ErrCorrupt, j.path)
	}
	return r, nil
}

// sync fsyncs the log and returns the length it covers. A failed fsync is
// sticky: after one, Linux may report the next as good with data lost.
func (j *journal) sync() (int64, error) {
	j.mu.Lock()
	end, err := j.end, j.err
	j.mu.Unlock()
	if err != nil {
		return 0, err
	}
	j.fileMu.RLock()
	defer j.fileMu.RUnlock()
	if j.f == nil {
		return 0, errClosed
	}
	if err := j.f.Sync(); err != nil {
		err = fmt.Errorf("checkpoint: fsync %s: %w", j.path, err)
		j.fail(err)
		return 0, err
	}
	return end, nil
}

// offsets returns the indexed offsets in file order.
func (j *journal) offsets() []int64 {
	j.mu.Lock()
	out := make([]int64, 0, len(j.index))
	for _, off := range j.index {
		out = append(out, off)
	}
	j.mu.Unlock()
	return out
}

func (j *journal) close() error {
	j.fileMu.Lock()
	defer j.fileMu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
