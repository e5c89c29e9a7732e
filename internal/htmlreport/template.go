package htmlreport

import (
	"html/template"
	"time"
)

// newPage parses the page template (a constant, so it cannot fail at run
// time; a test parses it).
func newPage() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"stamp":   func(t time.Time) string { return stamp(t) },
		"seconds": seconds,
		"short": func(s string) string {
			if len(s) > 12 {
				return s[:12]
			}
			return s
		},
		"add":   func(a, b int) int { return a + b },
		"addf":  func(a float64, b int) float64 { return a + float64(b) },
		"len64": func(l []int64) int64 { return int64(len(l)) },
	}).Parse(pageText))
}
