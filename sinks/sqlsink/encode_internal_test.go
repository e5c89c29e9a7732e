package sqlsink

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name, in string
		dropNUL  bool
		want     string // decoded value
	}{
		{"plain", "abc", false, "abc"},
		{"quotes", `a"b\c`, false, `a"b\c`},
		{"controls", "\n\r\t\x01\x1f", false, "\n\r\t\x01\x1f"},
		{"nul kept", "a\x00b", false, "a\x00b"},
		{"nul dropped", "a\x00b", true, "ab"},
		{"invalid utf8", "a\xffb\xc3\x28", false, "a\uFFFDb\uFFFD("},
		{"unicode", "名前 ✉ 😀 \u2028", false, "名前 ✉ 😀 \u2028"},
		{"html", "</script>&", false, "</script>&"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendJSONString(nil, tt.in, tt.dropNUL)
			var got string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("appendJSONString(%q) = %s: %v", tt.in, b, err)
			}
			if got != tt.want {
				t.Errorf("appendJSONString(%q) decodes to %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestInputKeys(t *testing.T) {
	tests := []struct {
		name     string
		header   []string
		sanitize bool
		want     []string
	}{
		{"unique", []string{"a", "b"}, false, []string{"a", "b"}},
		{"duplicates", []string{"a", "a", "a"}, false, []string{"a", "a_2", "a_3"}},
		{"generated name taken later", []string{"a", "a", "a_2"}, false, []string{"a", "a_3", "a_2"}},
		{"empty", []string{"", "x", ""}, false, []string{"column_1", "x", "column_3"}},
		{"nul kept", []string{"a\x00", "a"}, false, []string{"a\x00", "a"}},
		{"nul dropped collides", []string{"a\x00", "a"}, true, []string{"a", "a_2"}},
		{"invalid utf8 collides", []string{"a\xff", "a\xfe"}, false, []string{"a\uFFFD", "a\uFFFD_2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, inputKeys(tt.header, tt.sanitize)); diff != "" {
				t.Errorf("inputKeys(%q) (-want +got):\n%s", tt.header, diff)
			}
		})
	}
}

func TestNeedsJSONClean(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"a":"b"}`, false},
		{`{"a":"\u0041"}`, false},
		{`{"a":"\u0000"}`, true},
		{`{"a":"\\u0000"}`, false}, // an escaped backslash, then text
		{`{"a":"\ud83d\ude00"}`, true},
		{`{"a":"\uD800"}`, true},
		{"{\"a\":\"\xff\"}", true},
	}
	for _, tt := range tests {
		if got := needsJSONClean([]byte(tt.in)); got != tt.want {
			t.Errorf("needsJSONClean(%s) = %v, want %v", tt.in, got, tt.want)
		}
		if tt.want {
			c, err := cleanJSON([]byte(tt.in))
			if err != nil || strings.Contains(string(c), `\u0000`) || !json.Valid(c) {
				t.Errorf("cleanJSON(%s) = %s, %v", tt.in, c, err)
			}
		}
	}
}
