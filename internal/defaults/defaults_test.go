package defaults_test

import (
	"testing"
	"time"

	"github.com/contactbatch/batch/internal/defaults"
)

func TestOr(t *testing.T) {
	for _, c := range []struct{ v, want int }{{0, 7}, {-1, 7}, {3, 3}} {
		if got := defaults.Or(c.v, 7); got != c.want {
			t.Errorf("Or(%d, 7) = %d, want %d", c.v, got, c.want)
		}
	}
	if got := defaults.Or(time.Duration(0), time.Second); got != time.Second {
		t.Errorf("Or(0s, 1s) = %v", got)
	}
	if got := defaults.Or("", "x"); got != "x" {
		t.Errorf(`Or("", "x") = %q`, got)
	}
	if got := defaults.Or("a", "x"); got != "a" {
		t.Errorf(`Or("a", "x") = %q`, got)
	}
}
