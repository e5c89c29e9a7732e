// Package shard assigns the rows of one input to the shards of a job that
// runs as several processes (for example the pods of a Kubernetes Indexed
// Job). Every shard reads the whole input and keeps only the rows it owns;
// the assignment depends on nothing but the row itself and its position, so
// every shard, a rerun on a fresh disk and `batch merge` agree on it.
//
// A row with a contact key (the normalized email, else the person LinkedIn
// URL, else the company domain) belongs to the shard its key hashes to, so
// every verify and person lookup of one key happens in one shard. A row with
// no key, and a rejected row, belongs to shard seq mod N, where seq is the
// row's 0-based index among all rows read.
package shard

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/contactbatch/batch/contact"
)

// Spec names one shard of a job: Index in [0, Count). The zero Spec (or
// Count 1) is an unsharded run that owns every row.
type Spec struct {
	Index int
	Count int
}

// ErrSpec is wrapped by the errors of Parse and FromIndex.
var ErrSpec = errors.New("bad shard")

// Parse reads "I/N" (0 <= I < N).
func Parse(s string) (Spec, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Spec{}, fmt.Errorf("%w %q: want INDEX/COUNT, e.g. 0/3", ErrSpec, s)
	}
	return FromIndex(i, n)
}

// FromIndex builds a Spec from a decimal index and count, as given by
// --shards N and JOB_COMPLETION_INDEX.
func FromIndex(index, count string) (Spec, error) {
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return Spec{}, fmt.Errorf("%w: count %q is not a positive number", ErrSpec, count)
	}
	i, err := strconv.Atoi(strings.TrimSpace(index))
	if err != nil || i < 0 || i >= n {
		return Spec{}, fmt.Errorf("%w: index %q is not in 0..%d", ErrSpec, index, n-1)
	}
	return Spec{Index: i, Count: n}, nil
}

// Enabled reports whether s splits the input (Count > 1).
func (s Spec) Enabled() bool { return s.Count > 1 }

// String is "I/N", or "" for an unsharded run.
func (s Spec) String() string {
	if !s.Enabled() {
		return ""
	}
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// Key is the row's primary contact key: the normalized email, else the
// person LinkedIn URL, else the domain; "" when the row has none. c must be
// normalized (contact.Normalize).
func Key(c contact.Contact) string {
	switch {
	case c.Email != "":
		return "email:" + c.Email
	case c.LinkedInURL != "":
		return "linkedin:" + c.LinkedInURL
	case c.Domain != "":
		return "domain:" + c.Domain
	}
	return ""
}

// Of returns the shard of n that owns a row with the given key, or, when
// key is "", the row at index seq.
func Of(key string, seq int64, n int) int {
	if n <= 1 {
		return 0
	}
	if key == "" {
		return int(seq % int64(n))
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(n))
}

// OwnsRow reports whether s processes the accepted row at index seq whose
// normalized contact is c.
func (s Spec) OwnsRow(c contact.Contact, seq int64) bool {
	return !s.Enabled() || Of(Key(c), seq, s.Count) == s.Index
}

// OwnsReject reports whether s records the rejected row at index seq.
func (s Spec) OwnsReject(seq int64) bool {
	return !s.Enabled() || Of("", seq, s.Count) == s.Index
}
