package filesink

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCSVCell: a cleaned cell is valid UTF-8 without NUL, starts with no
// formula trigger when escaping, and a record of such cells reads back
// through encoding/csv as exactly the cleaned values.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"", "plain", "=1+1", "+49 30 123", "-x", "@SUM(A1)", "\tTab", "\rcr", "\nlf", "a,b", `say "hi"`, "line\nbreak", "\x00nul", "\xffbad", "é ü 😀", " "} {
		f.Add(s, "second", true, false)
		f.Add(s, "", false, true)
	}
	f.Fuzz(func(t *testing.T, a, b string, escape, crlf bool) {
		for _, v := range []string{a, b} {
			c := cleanCell(v, escape)
			if !utf8.ValidString(c) || strings.IndexByte(c, 0) >= 0 {
				t.Fatalf("cleanCell(%q) = %q: invalid UTF-8 or NUL", v, c)
			}
			if escape && c != "" && strings.IndexByte("=+-@\t\r\n", c[0]) >= 0 {
				t.Fatalf("cleanCell(%q) = %q starts with a formula trigger", v, c)
			}
			if !escape && utf8.ValidString(v) && strings.IndexByte(v, 0) < 0 && c != v {
				t.Fatalf("cleanCell(%q) changed a clean cell without escaping: %q", v, c)
			}
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		e := newCSVEncoder(w, escape, crlf)
		if err := e.write([]string{a, b}); err != nil {
			t.Fatal(err)
		}
		if crlf {
			e.cw.Flush()
		}
		e.cw.Flush()
		w.Flush()
		r := csv.NewReader(&buf)
		got, err := r.Read()
		if err != nil {
			t.Fatalf("record %q does not read back: %v", buf.String(), err)
		}
		want := []string{cleanCell(a, escape), cleanCell(b, escape)}
		// encoding/csv turns \r\n inside a quoted field into \n.
		for i := range want {
			want[i] = strings.ReplaceAll(want[i], "\r\n", "\n")
		}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("read back %q, want %q (record %q)", got, want, buf.String())
		}
	})
}
