package csvsource_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/contactbatch/batch/sources/csvsource"
)

func utf16le(t *testing.T, s string) []byte {
	t.Helper()
	b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utf16be(t *testing.T, s string) []byte {
	t.Helper()
	b, err := unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cp1252(t *testing.T, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecoderDialects(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	tests := []struct {
		name    string
		in      []byte
		force   csvsource.Dialect
		dialect string
		header  []string
		want    []string
	}{
		{"semicolon with BOM", []byte(bom + "E-Mail;Vorname;Firma\r\nhans@x.de;Hans;\"Müller, GmbH\"\r\n"), csvsource.Dialect{},
			`delimiter ";", encoding utf-8 with BOM, line ends crlf`, []string{"E-Mail", "Vorname", "Firma"},
			[]string{"2 hans@x.de|Hans|Müller, GmbH"}},
		{"tab", []byte("email\tname\na@x.com\tAnn, B\nb@x.com\tBob\n"), csvsource.Dialect{},
			`delimiter tab, encoding utf-8, line ends lf`, []string{"email", "name"},
			[]string{"2 a@x.com|Ann, B", "3 b@x.com|Bob"}},
		{"pipe", []byte("email|name\na@x.com|Ann\n"), csvsource.Dialect{},
			`delimiter "|", encoding utf-8, line ends lf`, []string{"email", "name"}, []string{"2 a@x.com|Ann"}},
		{"forced comma in a semicolon file", []byte("email;name\na@x.com;Ann\n"), csvsource.Dialect{Delimiter: ','},
			`delimiter ",", encoding utf-8, line ends lf`, []string{"email;name"}, []string{"2 a@x.com;Ann"}},
		{"CR only", []byte("email,name\ra@x.com,Ann\rb@x.com,\"two\nlines\"\r\rc@x.com,Cy\r"), csvsource.Dialect{},
			`delimiter ",", encoding utf-8, line ends cr`, []string{"email", "name"},
			[]string{"2 a@x.com|Ann", "3 b@x.com|two\nlines", "5 c@x.com|Cy"}},
		{"CR only without a last break", []byte("email,name\ra@x.com,Ann\rb@x.com,Bob"), csvsource.Dialect{},
			`delimiter ",", encoding utf-8, line ends cr`, []string{"email", "name"}, []string{"2 a@x.com|Ann", "3 b@x.com|Bob"}},
		{"UTF-16LE with BOM", utf16le(t, "E-Mail\tNom\r\nzoë@x.fr\tLefèvre\r\n𝄞@x.fr\t\"a\r\nb\"\r\n"), csvsource.Dialect{},
			`delimiter tab, encoding utf-16le with BOM, line ends crlf`, []string{"E-Mail", "Nom"},
			[]string{"2 zoë@x.fr|Lefèvre", "3 𝄞@x.fr|a\r\nb"}},
		{"UTF-16BE with BOM", utf16be(t, "email;name\nä@x.de;Ä\n"), csvsource.Dialect{},
			`delimiter ";", encoding utf-16be with BOM, line ends lf`, []string{"email", "name"}, []string{"2 ä@x.de|Ä"}},
		{"Windows-1252 detected", cp1252(t, "Email;Name\r\nm@x.de;Müller\r\nw@x.de;Weiß – €\r\n"), csvsource.Dialect{},
			`delimiter ";", encoding windows-1252, line ends crlf`, []string{"Email", "Name"},
			[]string{"2 m@x.de|Müller", "3 w@x.de|Weiß – €"}},
		{"ISO-8859-15 forced", []byte("email,name\ne@x.fr,\xa4uro\n"), csvsource.Dialect{Encoding: "ISO-8859-15"},
			`delimiter ",", encoding iso-8859-15, line ends lf`, []string{"email", "name"}, []string{"2 e@x.fr|€uro"}},
		{"bare quotes are data", []byte("email,pos\na@x.com,37°36'37.8\"N\nb@x.com,5'11\"\n"), csvsource.Dialect{},
			`delimiter ",", encoding utf-8, line ends lf`, []string{"email", "pos"},
			[]string{`2 a@x.com|37°36'37.8"N`, `3 b@x.com|5'11"`}},
		{"CRLF inside a quoted field is kept", []byte("email,note\r\na@x.com,\"one\r\ntwo\"\r\nb@x.com,x\r\n"), csvsource.Dialect{},
			`delimiter ",", encoding utf-8, line ends crlf`, []string{"email", "note"},
			[]string{"2 a@x.com|one\r\ntwo", "4 b@x.com|x"}},
		// Finding 17.1: a stray quote rejects its own line only.
		{"stray quote", []byte("email,name,company\ngood1@acme.com,A,Acme\n\"stray@acme.com,Bob,Acme\ngood2@acme.com,C,Acme\ngood3@acme.com,D,\"Acme\"\ngood4@acme.com,E,Acme\n"), csvsource.Dialect{},
			`delimiter ",", encoding utf-8, line ends lf`, []string{"email", "name", "company"},
			[]string{"2 good1@acme.com|A|Acme", "3 ! text after the closing quote of field 1", "4 good2@acme.com|C|Acme",
				"5 good3@acme.com|D|Acme", "6 good4@acme.com|E|Acme"}},
		{"stray quote closing later with the wrong field count", []byte("email,name\n\"stray@acme.com,Bob\ngood@acme.com,x\nq@acme.com,a\",b,c\nlast@acme.com,z\n"), csvsource.Dialect{},
			`delimiter ",", encoding utf-8, line ends lf`, []string{"email", "name"},
			[]string{"2 ! a quoted field spans 3 lines and leaves 3 fields, header has 2 (stray quote?)", "3 good@acme.com|x",
				"4 ! wrong number of fields: 4, header has 2", "5 last@acme.com|z"}},
		{"quoted field over the line cap", []byte("email,name\n\"a@x.com\n" + strings.Repeat("l\n", 70) + "\",x\n"), csvsource.Dialect{},
			`delimiter ",", encoding utf-8, line ends lf`, []string{"email", "name"},
			capped()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts()
			o.Dialect = tt.force
			d, err := csvsource.NewDecoder(bytes.NewReader(tt.in), o, nil)
			if err != nil {
				t.Fatalf("NewDecoder() error = %v", err)
			}
			if got := d.Dialect().String(); got != tt.dialect {
				t.Errorf("Dialect() = %s, want %s", got, tt.dialect)
			}
			if diff := cmp.Diff(tt.header, d.Header()); diff != "" {
				t.Errorf("Header() diff (-want +got):\n%s", diff)
			}
			got := drain(t, d)
			if diff := cmp.Diff(tt.want, strs(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows diff (-want +got):\n%s", diff)
			}
			if d.Offset() != int64(len(tt.in)) {
				t.Errorf("Offset() at EOF = %d, want %d", d.Offset(), len(tt.in))
			}
			checkResumeEverywhere(t, tt.in, d.Header(), d.Dialect(), got)
		})
	}
}

// capped is the outcome of a quoted field opened at line 2 and left open
// for 70 lines of one field each, then reopened at line 73.
func capped() []string {
	want := []string{"2 ! quoted field still open after 64 lines (stray quote?)"}
	for l := 3; l <= 72; l++ {
		want = append(want, fmt.Sprintf("%d ! wrong number of fields: 1, header has 2", l))
	}
	return append(want, "73 ! quoted field not closed before the end of the input (stray quote?)")
}

// TestStrayQuoteBounded is finding 17.1 at scale: a stray quote at line 3
// and another 20,000 lines later cost one row, not the rows between.
func TestStrayQuoteBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("email,name,company\ngood0@acme.com,A,Acme\n\"stray@acme.com,Bob,Acme\n")
	for i := 1; i <= 20_000; i++ {
		b.WriteString("good" + strings.Repeat("x", i%7) + "@acme.com,N,Acme\n")
	}
	b.WriteString("late@acme.com,\"Quote\",Acme\n")
	d, err := csvsource.NewDecoder(strings.NewReader(b.String()), opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := strs(drain(t, d))
	rejects := 0
	for _, s := range got {
		if strings.Contains(s, " ! ") {
			rejects++
		}
	}
	if len(got) != 20_003 || rejects != 1 || !strings.HasPrefix(got[1], "3 ! ") {
		t.Fatalf("got %d outcomes, %d rejects (second %q), want 20003 with one reject at line 3", len(got), rejects, got[1])
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		head string
		want string
	}{
		{"", `delimiter ",", encoding utf-8, line ends lf`},
		{"email\n", `delimiter ",", encoding utf-8, line ends lf`},
		{"a;b;c,d\n1;2;3,4\n", `delimiter ";", encoding utf-8, line ends lf`},
		{"\"a;b\",c\n1,2\n", `delimiter ",", encoding utf-8, line ends lf`},
		{"a|b|c\r\n1|2|3\r\n", `delimiter "|", encoding utf-8, line ends crlf`},
		{"\"x\ny\"\r1\r", `delimiter ",", encoding utf-8, line ends cr`},
		{"a,b\xe9\n", `delimiter ",", encoding windows-1252, line ends lf`},
		{"a,b\xc3", `delimiter ",", encoding utf-8, line ends lf`}, // a rune cut by the end of the head
	}
	for _, tt := range tests {
		d, err := csvsource.Detect([]byte(tt.head), csvsource.Dialect{})
		if err != nil {
			t.Fatalf("Detect(%q) error = %v", tt.head, err)
		}
		if d.String() != tt.want {
			t.Errorf("Detect(%q) = %s, want %s", tt.head, d, tt.want)
		}
	}
	if _, err := csvsource.Detect(nil, csvsource.Dialect{Encoding: "ibm037"}); !errors.Is(err, csvsource.ErrUnsupportedEncoding) {
		t.Errorf("Detect(EBCDIC) error = %v, want ErrUnsupportedEncoding", err)
	}
	if _, err := csvsource.ParseDelimiter(`"`); !errors.Is(err, csvsource.ErrBadDelimiter) {
		t.Errorf(`ParseDelimiter(") error = %v, want ErrBadDelimiter`, err)
	}
	for in, want := range map[string]byte{"tab": '\t', `\t`: '\t', ";": ';', "semicolon": ';', "pipe": '|', "comma": ','} {
		if got, err := csvsource.ParseDelimiter(in); err != nil || got != want {
			t.Errorf("ParseDelimiter(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
