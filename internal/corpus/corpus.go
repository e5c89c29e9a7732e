// Package corpus builds the input test corpus: one small contact list
// written the ways real exports write it (semicolon and tab separated
// with a byte order mark, Windows-1252, UTF-16LE, CR-only line endings,
// bare and stray quotes, CRLF inside quoted fields) and an Excel workbook
// with a title row, merged header cells, dates, numbers with leading
// zeros, a hidden first sheet and a second sheet. `go test ./cmd/batch
// -run TestInputCorpus -update` writes it under testdata/input/; the
// end-to-end tests check that the committed files are what this package
// builds.
package corpus

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// Contact is one row of the list, as its values read in UTF-8.
type Contact struct {
	Email, First, Last, Company, Note string
}

// Contacts is the list every CSV variant holds. The local parts follow the
// emulator's rules (valid…: deliverable, bounce…: undeliverable,
// unknown…: unknown), so the verdicts are known.
func Contacts() []Contact {
	return []Contact{
		{"valid.hans@mueller-soehne.de", "Hans", "Müller", "Müller & Söhne GmbH", "Weiß, Straße 5"},
		{"valid.zoe@societe.fr", "Zoë", "Lefèvre", "Société Générale", `37°36'37.8"N`},
		{"valid.jose@nandu.es", "José", "Núñez", "Empresa Ñandú S.A.", "line one\r\nline two"},
		{"bounce.bjorn@orsted.dk", "Björn", "Ærø", "Ørsted", "€100 – budget"},
		{"unknown.pierre@flore.fr", "Pierre", "Dupont", "Café de Flore", "« guillemets »"},
		{"valid.anna@aland.fi", "Anna", "Öberg", "Ålands AB", "plain"},
	}
}

// File is one CSV variant of the list.
type File struct {
	Name   string
	Header []string // its header, in its language
	Data   []byte
	// Stray is the line of a row with an unclosed quote the reader must
	// reject alone (0: none); StrayRaw is that line's text.
	Stray    int64
	StrayRaw string
}

// Files returns every CSV variant.
func Files() []File {
	de := []string{"E-Mail", "Vorname", "Nachname", "Firma", "Notiz"}
	fr := []string{"Courriel", "Prénom", "Nom", "Société", "Note"}
	de2 := []string{"E-Mail-Adresse", "Vorname", "Nachname", "Unternehmen", "Notiz"}
	es := []string{"Correo electrónico", "Nombre", "Apellido", "Empresa", "Nota"}
	en := []string{"Email", "First Name", "Last Name", "Company", "Notes"}
	files := []File{
		{Name: "semicolon_bom.csv", Header: de, Data: []byte("\xEF\xBB\xBF" + render(de, ';', "\r\n", false))},
		{Name: "tab_bom.csv", Header: fr, Data: []byte("\xEF\xBB\xBF" + render(fr, '\t', "\n", false))},
		{Name: "windows1252.csv", Header: de2, Data: encode1252(render(de2, ';', "\r\n", false))},
		{Name: "utf16le.txt", Header: es, Data: encodeUTF16LE(render(es, '\t', "\r\n", false))},
		{Name: "cr_only.csv", Header: en, Data: []byte(render(en, ',', "\r", false))},
	}
	// Bare quotes left unquoted, and a stray quote at line 4 that never
	// closes on its line.
	q := render(en, ',', "\n", true)
	lines := strings.SplitAfter(q, "\n")
	stray := `"stray@example.com,Stray,Quote,Nowhere,unclosed`
	lines = append(lines[:3], append([]string{stray + "\n"}, lines[3:]...)...)
	files = append(files, File{Name: "quotes.csv", Header: en, Data: []byte(strings.Join(lines, "")), Stray: 4, StrayRaw: stray})
	return files
}

// Plain is the list as plain RFC 4180 CSV (UTF-8, commas, LF), the
// reference the variants are compared with.
func Plain() []byte {
	return []byte(render([]string{"Email", "First Name", "Last Name", "Company", "Notes"}, ',', "\n", false))
}

// render writes the list with the given separator and line ending. With
// bare, a value holding a quote but no separator or line break is left
// unquoted (a bare quote, as spreadsheets write it).
func render(header []string, sep byte, eol string, bare bool) string {
	var b strings.Builder
	row := func(vals ...string) {
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(sep)
			}
			b.WriteString(quote(v, sep, bare))
		}
		b.WriteString(eol)
	}
	row(header...)
	for _, c := range Contacts() {
		row(c.Email, c.First, c.Last, c.Company, c.Note)
	}
	return b.String()
}

func quote(v string, sep byte, bare bool) string {
	special := strings.ContainsAny(v, string(sep)+"\r\n")
	if !special && (!strings.Contains(v, `"`) || bare) {
		return v
	}
	return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
}

func encode1252(s string) []byte {
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(fmt.Sprintf("corpus: %v", err)) // every character of the list is in Windows-1252
	}
	return b
}

func encodeUTF16LE(s string) []byte {
	b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		panic(fmt.Sprintf("corpus: %v", err))
	}
	return b
}
