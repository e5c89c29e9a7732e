package lookup

import (
	"hash/fnv"
	"sync/atomic"
)

// bloom is a fixed-size Bloom filter of the keys a run stored, safe for
// concurrent use. A fresh job uses it to skip the ledger read for keys it
// has certainly not stored: a false positive only costs that read.
type bloom struct {
	bits []atomic.Uint64
}

// bloomBits is the filter size: 2 MiB, about a 2 % false-positive rate at
// 2M keys (and 24 % at 5M: a false positive only costs a ledger read).
const bloomBits = 1 << 24

func newBloom() *bloom { return &bloom{bits: make([]atomic.Uint64, bloomBits/64)} }

func (b *bloom) hashes(kind Kind, key string) (uint64, uint64) {
	h := fnv.New64a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(key))
	s := h.Sum64()
	return s, s>>33 | s<<31 | 1
}

func (b *bloom) add(kind Kind, key string) {
	h1, h2 := b.hashes(kind, key)
	for i := range uint64(4) {
		bit := (h1 + i*h2) % bloomBits
		b.bits[bit/64].Or(1 << (bit % 64))
	}
}

func (b *bloom) mayContain(kind Kind, key string) bool {
	h1, h2 := b.hashes(kind, key)
	for i := range uint64(4) {
		bit := (h1 + i*h2) % bloomBits
		if b.bits[bit/64].Load()&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}
