package validutf8_test

import (
	"testing"
	"unicode/utf8"

	"github.com/contactbatch/batch/internal/validutf8"
)

func TestClean(t *testing.T) {
	for _, tt := range []struct{ in, nul, want string }{
		{"", "", ""},
		{"plain é 😀", "", "plain é 😀"},
		{"caf\xe9", "", "caf\uFFFD"},
		{"\xff\xfe", "", "\uFFFD\uFFFD"}, // one U+FFFD per byte, as encoding/json
		{"a\xe2\x82", "", "a\uFFFD\uFFFD"},
		{"nul\x00byte", "", "nulbyte"},
		{"nul\x00byte", "\uFFFD", "nul\uFFFDbyte"},
		{"\x00\xff", "\uFFFD", "\uFFFD\uFFFD"},
	} {
		if got := validutf8.Clean(tt.in, tt.nul); got != tt.want {
			t.Errorf("Clean(%q, %q) = %q, want %q", tt.in, tt.nul, got, tt.want)
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "a", "\xff", "\x00", "é\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := validutf8.Clean(s, "")
		if !utf8.ValidString(got) {
			t.Fatalf("Clean(%q) = %q, not valid UTF-8", s, got)
		}
		for i := range len(got) {
			if got[i] == 0 {
				t.Fatalf("Clean(%q) = %q holds a NUL", s, got)
			}
		}
		if utf8.ValidString(s) && got != s && len(got) >= len(s) {
			t.Fatalf("Clean(%q) = %q changed valid text other than by dropping NUL", s, got)
		}
	})
}
