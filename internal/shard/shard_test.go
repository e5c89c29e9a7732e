package shard

import (
	"errors"
	"fmt"
	"testing"

	"github.com/contactbatch/batch/contact"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		err  bool
	}{
		{"0/3", Spec{0, 3}, false},
		{" 2/3 ", Spec{2, 3}, false},
		{"0/1", Spec{0, 1}, false},
		{"3/3", Spec{}, true},
		{"-1/3", Spec{}, true},
		{"1/0", Spec{}, true},
		{"1", Spec{}, true},
		{"a/b", Spec{}, true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSpec", tc.in, err)
		}
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		c    contact.Contact
		want string
	}{
		{contact.Contact{Email: "a@x.com", LinkedInURL: "https://www.linkedin.com/in/a", Domain: "x.com"}, "email:a@x.com"},
		{contact.Contact{LinkedInURL: "https://www.linkedin.com/in/a", Domain: "x.com"}, "linkedin:https://www.linkedin.com/in/a"},
		{contact.Contact{Domain: "x.com"}, "domain:x.com"},
		{contact.Contact{FirstName: "Ann"}, ""},
	} {
		if got := Key(tc.c); got != tc.want {
			t.Errorf("Key(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}

// TestEveryRowHasOneOwner checks that for every shard count each row and
// each reject is owned by exactly one shard, that rows with one key land
// in one shard whatever their position, and that the split is not
// degenerate.
func TestEveryRowHasOneOwner(t *testing.T) {
	for n := 1; n <= 5; n++ {
		perShard := make([]int, n)
		for seq := int64(0); seq < 3000; seq++ {
			c := contact.Contact{Email: fmt.Sprintf("user%d@example.com", seq%1000)}
			if seq%7 == 0 {
				c = contact.Contact{}
			}
			owners, rejectOwners := 0, 0
			for i := 0; i < n; i++ {
				s := Spec{Index: i, Count: n}
				if s.OwnsRow(c, seq) {
					owners++
					perShard[i]++
				}
				if s.OwnsReject(seq) {
					rejectOwners++
				}
			}
			if owners != 1 || rejectOwners != 1 {
				t.Fatalf("n=%d seq=%d: %d row owners, %d reject owners; want 1 and 1", n, seq, owners, rejectOwners)
			}
			if c.Email != "" && Of(Key(c), seq, n) != Of(Key(c), seq+1000, n) {
				t.Fatalf("n=%d: key %s moved shard with its position", n, Key(c))
			}
		}
		for i, k := range perShard {
			if k < 3000/n/2 {
				t.Errorf("n=%d: shard %d owns %d of 3000 rows; the split is lopsided: %v", n, i, k, perShard)
			}
		}
	}
}

func TestUnshardedOwnsEverything(t *testing.T) {
	var s Spec
	if s.Enabled() || s.String() != "" || !s.OwnsRow(contact.Contact{Email: "a@b.c"}, 5) || !s.OwnsReject(9) {
		t.Fatal("the zero Spec must own every row")
	}
}
