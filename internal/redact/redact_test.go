package redact

import (
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	const key = "SK-live-0123456789abcdefGHIJ"
	r := New(key)
	for _, tc := range []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"key " + key + " end", "key [redacted] end"},
		{"prefix " + key[:12] + "!", "prefix [redacted]!"},
		{"lower " + strings.ToLower(key), "lower [redacted]"},
		{"upper " + strings.ToUpper(key[5:20]), "upper [redacted]"},
		{"seven " + key[3:10] + " stays", "seven " + key[3:10] + " stays"},
		{"eight " + key[3:11] + ".", "eight [redacted]."},
		{"two " + key[:9] + "," + key[10:19], "two [redacted],[redacted]"},
		{key + key, "[redacted]"},
		{"", ""},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := string(r.Bytes([]byte(tc.in))); got != tc.want {
			t.Errorf("Bytes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	short := New("Abc12")
	if got := short.String("x abc12 y ABC1"); got != "x [redacted] y ABC1" {
		t.Errorf("short secret: %q", got)
	}
	// A key shorter than MinRun is a whole token or nothing: never part of
	// a word, never inside a terminal escape (the progress line's clear
	// line and colours survive a one-letter key).
	k := New("k")
	const line = "\x1b[2K\r\x1b[1;32mok\x1b[0m 5 rows, key k, K. kind\x1b]0;k\x07"
	if got, want := k.String(line), "\x1b[2K\r\x1b[1;32mok\x1b[0m 5 rows, key [redacted], [redacted]. kind\x1b]0;k\x07"; got != want {
		t.Errorf("one-letter key:\n got %q\nwant %q", got, want)
	}
	if got := New("2K").String("\x1b[2K 2K"); got != "\x1b[2K [redacted]" {
		t.Errorf("key spelling an escape's tail: %q", got)
	}
	var none *Redactor
	if got := none.String(key); got != key {
		t.Errorf("nil redactor changed its input: %q", got)
	}
	if got := New("").String(key); got != key {
		t.Errorf("empty secret changed its input: %q", got)
	}
}

// Every piece of the secret of MinRun bytes or more, in any ASCII case and
// at any place in a text, is gone after redaction.
func TestRedactorEveryPiece(t *testing.T) {
	const key = "k3y-With-Mixed_Case-and-digits-0042"
	r := New(key)
	for i := 0; i < len(key); i++ {
		for j := i + MinRun; j <= len(key); j++ {
			for _, piece := range []string{key[i:j], strings.ToLower(key[i:j]), strings.ToUpper(key[i:j])} {
				got := strings.ToLower(r.String("a<" + piece + ">b"))
				if strings.Contains(got, strings.ToLower(key[i:i+MinRun])) {
					t.Fatalf("piece %q survives: %q", piece, got)
				}
			}
		}
	}
}

func FuzzRedactor(f *testing.F) {
	f.Add("SK-live-0123456789abcdef", "text SK-live-0123 sk-live-0123456789")
	f.Add("short", "SHORTshort")
	f.Fuzz(func(t *testing.T, key, text string) {
		r := New(key)
		got := r.String(text)
		if string(r.Bytes([]byte(text))) != got {
			t.Fatal("String and Bytes differ")
		}
		if len(key) < MinRun {
			return
		}
		// ASCII folding only, as the Redactor: strings.ToLower would turn
		// an invalid byte into U+FFFD, whose bytes can spell a window.
		low := lowerASCII(got)
		lk := lowerASCII(key)
		// No window of the secret survives, unless it overlaps a mark
		// that the text itself spelled.
		for i := 0; i+MinRun <= len(lk); i++ {
			if strings.Contains(low, lk[i:i+MinRun]) && !strings.Contains(lowerASCII(text), "[redacted]") && !strings.Contains(lk, "[redacted]") && !strings.ContainsAny(lk, "[]") {
				t.Fatalf("window %q of %q survives in %q", lk[i:i+MinRun], key, got)
			}
		}
	})
}
