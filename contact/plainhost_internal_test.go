package contact

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestPlainHostIsTheLongWay: for every host name plainHost takes, hostOf's
// long way (URL parse, IDNA lookup) gives the same result.
func TestPlainHostIsTheLongWay(t *testing.T) {
	cases := []string{"acme.com", "ACME.Com", "a.b.c.d.example.org", "x-y.co", "1.2.3.4", "123.com", "a--b.com", "ab--c.com",
		"xn--bcher-kva.de", "XN--bcher-kva.de", "a.b", "a", "-a.com", "a-.com", "a.-com", "com.", ".com", "a..com",
		strings.Repeat("a", 63) + ".com", strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefghi.", 25) + "com", "mail.co.uk", "x.y-z.io"}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	const alphabet = "abcXYZ019-."
	for range 20000 {
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		h, ok := plainHost(s)
		if !ok {
			continue
		}
		got := ""
		if plausibleDomain(h) {
			got = h
		}
		if want := hostOfURL(s); got != want {
			t.Errorf("host %q: the short way gives %q, the long way %q", s, got, want)
		}
	}
}
