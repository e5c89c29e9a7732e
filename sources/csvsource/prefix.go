package csvsource

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// prefixBlock is the spacing of prefix checkpoints in a stdin stream.
const prefixBlock = 1 << 20

// prefixHasher hashes a non-seekable stream as it is read and keeps
// checkpoints: the SHA-256 of the stream's first k×prefixBlock bytes. A row
// cursor carries the last checkpoint at or before the row's offset, so that
// a resume re-reading stdin can tell that the bytes it skips are the bytes
// the interrupted run read (the job fingerprint covers only the first
// 64 KiB).
type prefixHasher struct {
	r   io.Reader
	h   hash.Hash
	n   int64    // bytes hashed
	cps []string // "offset:hex" of checkpoints k0, k0+1, …: the last 64
	k0  int64    // k of cps[0]
}

func newPrefixHasher(r io.Reader) *prefixHasher { return &prefixHasher{r: r, h: sha256.New(), k0: 1} }

func (p *prefixHasher) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	for rest := b[:n]; len(rest) > 0; {
		room := prefixBlock - p.n%prefixBlock
		chunk := rest[:min(int64(len(rest)), room)]
		p.h.Write(chunk)
		p.n += int64(len(chunk))
		rest = rest[len(chunk):]
		if p.n%prefixBlock == 0 {
			p.add(p.n, p.h.Sum(nil))
		}
	}
	return n, err
}

// add records the checkpoint at off, keeping the last 64 (the decoder
// reads at most a few blocks ahead of the rows it returns). Read and at
// both run inside Source.Next: no locking.
func (p *prefixHasher) add(off int64, sum []byte) {
	p.cps = append(p.cps, strconv.FormatInt(off, 10)+":"+hex.EncodeToString(sum[:16]))
	if len(p.cps) > 64 {
		drop := len(p.cps) - 64
		p.cps = append(p.cps[:0], p.cps[drop:]...)
		p.k0 += int64(drop)
	}
}

// at returns the last checkpoint at or before off, "" if none.
func (p *prefixHasher) at(off int64) string {
	i := off/prefixBlock - p.k0 // index of checkpoint k = off/prefixBlock
	if i < 0 || len(p.cps) == 0 {
		return ""
	}
	return p.cps[min(i, int64(len(p.cps)-1))]
}

// checkPrefix skips the first off bytes of r (at its start) and checks them
// against checkpoint cp ("offset:hex", "" for none), which p (hashing r)
// records again as the skip passes its offset.
func checkPrefix(r io.Reader, p *prefixHasher, origin string, off int64, cp string) (io.Reader, error) {
	if cp == "" {
		return skipTo(r, origin, off)
	}
	at, _, ok := strings.Cut(cp, ":")
	cpOff, err := strconv.ParseInt(at, 10, 64)
	if p == nil || !ok || err != nil || cpOff <= 0 || cpOff > off || cpOff%prefixBlock != 0 {
		return nil, fmt.Errorf("csvsource: bad prefix checkpoint %q in the resume cursor", cp)
	}
	if _, err := skipTo(r, origin, cpOff); err != nil {
		return nil, err
	}
	if p.at(cpOff) != cp {
		return nil, fmt.Errorf("csvsource: %s: the first %d bytes differ from the input of the interrupted run: it is another input (use --restart to start over)", origin, cpOff)
	}
	return skipTo(r, origin, off-cpOff)
}
