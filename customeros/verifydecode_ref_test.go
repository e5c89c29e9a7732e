package customeros

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxNestingDepth is encoding/json's nesting limit: deeper JSON is invalid.
const maxNestingDepth = 10000

// emailKind is what the last "email" key of a verify body held.
type emailKind uint8

const (
	emailNone   emailKind = iota // no "email" key
	emailObject                  // current generation: the record
	emailString                  // legacy generation: the address
	emailNull
	emailOther // a number, boolean or array: not decodable
)

// refDecodeVerification is the hand-written single-pass decoder the client
// used before decodeVerification moved to a JSON library. It stays here as
// the reference FuzzDecodeVerification compares the library decoder with,
// and BenchmarkDecodeVerification measures both.
func refDecodeVerification(body []byte) (*Verification, error) {
	d := verifyDecoder{data: body}
	if err := d.run(); err != nil {
		return nil, err
	}
	rec, raw := &d.flat, body
	switch d.emailKind {
	case emailObject: // current
		if d.nestedErr != nil {
			return nil, fmt.Errorf("%w: verify: %v", ErrBadResponse, d.nestedErr)
		}
		rec, raw = &d.nested, body[d.emailStart:d.emailEnd]
	case emailString, emailNull, emailNone: // legacy flat
		if d.flatErr != nil {
			return nil, fmt.Errorf("%w: verify: %v", ErrBadResponse, d.flatErr)
		}
		if d.emailKind != emailNone {
			rec.EmailAddress = d.email
		}
	default:
		return nil, fmt.Errorf("%w: verify: email: %v", ErrBadResponse, d.emailErr)
	}
	if rec.EmailAddress == "" && !rec.Syntax.IsValid && rec.Deliverable == "" && d.env.Status == "" {
		return nil, fmt.Errorf("%w: verify: no verification record in body", ErrBadResponse)
	}
	return rec.verification(d.env.RequestID, bytes.Clone(raw)), nil
}

// verifyDecoder decodes a single-verify body in one pass, validating the
// whole document as it goes (what json.Valid would reject is a syntax error
// wrapping errTruncated). It decodes both generations at once and
// refDecodeVerification picks by the "email" value, so its result equals the
// previous decoding (json.Unmarshal of the envelope and "email", then of
// the record, from the "email" object or from the whole body):
//   - keys match field names exactly or case-insensitively, as in
//     encoding/json; a repeated key overwrites (objects merge);
//   - null leaves a field as it is, except a *bool, which it clears;
//   - a value of the wrong type is an error only for the view that uses it
//     (envelope: always; top-level record fields: legacy only; "email"
//     object fields: current only); unknown keys are skipped;
//   - strings with escapes or invalid UTF-8 are unquoted by encoding/json.
type verifyDecoder struct {
	data  []byte
	off   int
	depth int

	env    envelope
	envErr error
	// flat is the record read from the top level (legacy), nested the one
	// read from the last "email" object (current).
	flat, nested       wireVerifyRecord
	flatErr, nestedErr error

	emailKind            emailKind
	email                string // emailString
	emailErr             error  // emailOther
	emailStart, emailEnd int    // emailObject: the object's bytes
}

// run decodes d.data; it returns a syntax error or an envelope type error.
func (d *verifyDecoder) run() error {
	d.ws()
	switch d.peek() {
	case '{':
		if err := d.object(d.topField); err != nil {
			return err
		}
	case 'n': // null: nothing decoded
		if err := d.literal("null"); err != nil {
			return err
		}
	default:
		if err := d.skipValue(); err != nil {
			return err
		}
		d.envErr = errors.New("json: the verify body is not an object")
	}
	d.ws()
	if d.off < len(d.data) {
		return d.syntaxErr("data after the top-level value")
	}
	if d.envErr != nil {
		return fmt.Errorf("%w: verify: %v", ErrBadResponse, d.envErr)
	}
	return nil
}

func (d *verifyDecoder) topField(key []byte) error {
	switch {
	case is(key, "requestId"):
		return d.str(&d.env.RequestID, &d.envErr, "requestId")
	case is(key, "status"):
		return d.str(&d.env.Status, &d.envErr, "status")
	case is(key, "message"):
		return d.str(&d.env.Message, &d.envErr, "message")
	case is(key, "error"):
		return d.str(&d.env.Error, &d.envErr, "error")
	case is(key, "email"):
		return d.emailValue()
	}
	return d.recordField(&d.flat, &d.flatErr, key)
}

func (d *verifyDecoder) emailValue() error {
	start := d.off
	switch d.peek() {
	case '{':
		d.nested, d.nestedErr = wireVerifyRecord{}, nil
		if err := d.object(func(key []byte) error { return d.recordField(&d.nested, &d.nestedErr, key) }); err != nil {
			return err
		}
		d.emailKind, d.emailStart, d.emailEnd = emailObject, start, d.off
		return nil
	case '"':
		d.emailKind = emailString
		return d.str(&d.email, &d.emailErr, "email")
	case 'n':
		d.emailKind, d.email = emailNull, ""
		return d.literal("null")
	}
	d.emailKind, d.emailErr = emailOther, nil
	return d.mismatch(&d.emailErr, "email (string)")
}

// recordField decodes the value of key into r, or skips it.
func (d *verifyDecoder) recordField(r *wireVerifyRecord, errp *error, key []byte) error {
	switch {
	case is(key, "emailAddress"):
		return d.str(&r.EmailAddress, errp, "emailAddress")
	case is(key, "deliverable"):
		return d.str(&r.Deliverable, errp, "deliverable")
	case is(key, "provider"):
		return d.str(&r.Provider, errp, "provider")
	case is(key, "secureGatewayProvider"):
		return d.str(&r.SecureGatewayProvider, errp, "secureGatewayProvider")
	case is(key, "alternateEmail"):
		return d.str(&r.AlternateEmail, errp, "alternateEmail")
	case is(key, "isRisky"):
		return d.boolPtr(&r.IsRisky, errp, "isRisky")
	case is(key, "isCatchAll"):
		return d.bool(&r.IsCatchAll, errp, "isCatchAll")
	case is(key, "risk"):
		return d.structValue(errp, "risk", func(key []byte) error {
			rk := &r.Risk
			switch {
			case is(key, "isFirewalled"):
				return d.bool(&rk.IsFirewalled, errp, "isFirewalled")
			case is(key, "isRoleMailbox"):
				return d.bool(&rk.IsRoleMailbox, errp, "isRoleMailbox")
			case is(key, "isSystemGenerated"):
				return d.bool(&rk.IsSystemGenerated, errp, "isSystemGenerated")
			case is(key, "isFreeProvider"):
				return d.bool(&rk.IsFreeProvider, errp, "isFreeProvider")
			case is(key, "isMailboxFull"):
				return d.bool(&rk.IsMailboxFull, errp, "isMailboxFull")
			case is(key, "isPrimaryDomain"):
				return d.boolPtr(&rk.IsPrimaryDomain, errp, "isPrimaryDomain")
			}
			return d.skipValue()
		})
	case is(key, "syntax"):
		return d.structValue(errp, "syntax", func(key []byte) error {
			sy := &r.Syntax
			switch {
			case is(key, "isValid"):
				return d.bool(&sy.IsValid, errp, "isValid")
			case is(key, "domain"):
				return d.str(&sy.Domain, errp, "domain")
			case is(key, "user"):
				return d.str(&sy.User, errp, "user")
			}
			return d.skipValue()
		})
	}
	return d.skipValue()
}

// is reports whether key names the field name the way encoding/json
// matches them: exactly or under Unicode case folding. name is ASCII.
func is(key []byte, name string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return bytes.EqualFold(key, []byte(name))
		}
	}
	if len(key) != len(name) {
		return false
	}
	for i, c := range key {
		if n := name[i]; c != n && lowerASCII(c) != lowerASCII(n) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// --- typed values: null leaves the field alone; another type is recorded
// in *errp (the first one) and skipped.

func (d *verifyDecoder) str(dst *string, errp *error, field string) error {
	switch d.peek() {
	case '"':
		s, err := d.stringValue()
		if err != nil {
			return err
		}
		*dst = s
		return nil
	case 'n':
		return d.literal("null")
	}
	return d.mismatch(errp, field+" (string)")
}

func (d *verifyDecoder) bool(dst *bool, errp *error, field string) error {
	switch d.peek() {
	case 't':
		*dst = true
		return d.literal("true")
	case 'f':
		*dst = false
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	return d.mismatch(errp, field+" (bool)")
}

func (d *verifyDecoder) boolPtr(dst **bool, errp *error, field string) error {
	switch d.peek() {
	case 't', 'f':
		var v bool
		if err := d.bool(&v, errp, field); err != nil {
			return err
		}
		if *dst == nil {
			*dst = new(bool)
		}
		**dst = v
		return nil
	case 'n':
		*dst = nil
		return d.literal("null")
	}
	return d.mismatch(errp, field+" (bool)")
}

func (d *verifyDecoder) structValue(errp *error, field string, fn func(key []byte) error) error {
	switch d.peek() {
	case '{':
		return d.object(fn)
	case 'n':
		return d.literal("null")
	}
	return d.mismatch(errp, field+" (object)")
}

// mismatch skips a value of the wrong type and records the first such error.
func (d *verifyDecoder) mismatch(errp *error, field string) error {
	kind := "value"
	switch d.peek() {
	case '{':
		kind = "object"
	case '[':
		kind = "array"
	case '"':
		kind = "string"
	case 't', 'f':
		kind = "bool"
	case 'n':
		kind = "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		kind = "number"
	}
	if err := d.skipValue(); err != nil {
		return err
	}
	if *errp == nil {
		*errp = fmt.Errorf("json: cannot unmarshal %s into field %s", kind, field)
	}
	return nil
}

// --- syntax

func (d *verifyDecoder) syntaxErr(what string) error {
	return fmt.Errorf("%w: invalid JSON: %s at offset %d", errTruncated, what, d.off)
}

func (d *verifyDecoder) peek() byte {
	if d.off < len(d.data) {
		return d.data[d.off]
	}
	return 0
}

func (d *verifyDecoder) ws() {
	for d.off < len(d.data) {
		switch d.data[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

func (d *verifyDecoder) literal(word string) error {
	if !bytes.HasPrefix(d.data[d.off:], []byte(word)) {
		return d.syntaxErr("invalid literal")
	}
	d.off += len(word)
	return nil
}

func (d *verifyDecoder) enter() error {
	d.depth++
	if d.depth > maxNestingDepth {
		return d.syntaxErr("exceeded max depth")
	}
	d.off++
	d.ws()
	return nil
}

// object reads an object at d.off, calling field with each key (unquoted)
// and d.off at its value; field must consume the value.
func (d *verifyDecoder) object(field func(key []byte) error) error {
	if err := d.enter(); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.off++
		d.depth--
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.syntaxErr("expected a key")
		}
		key, err := d.key()
		if err != nil {
			return err
		}
		d.ws()
		if d.peek() != ':' {
			return d.syntaxErr("expected ':'")
		}
		d.off++
		d.ws()
		if err := field(key); err != nil {
			return err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.off++
			d.ws()
		case '}':
			d.off++
			d.depth--
			return nil
		default:
			return d.syntaxErr("expected ',' or '}'")
		}
	}
}

func (d *verifyDecoder) array() error {
	if err := d.enter(); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.off++
		d.depth--
		return nil
	}
	for {
		if err := d.skipValue(); err != nil {
			return err
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.off++
			d.ws()
		case ']':
			d.off++
			d.depth--
			return nil
		default:
			return d.syntaxErr("expected ',' or ']'")
		}
	}
}

func (d *verifyDecoder) skipValue() error {
	switch c := d.peek(); c {
	case '{':
		return d.object(func([]byte) error { return d.skipValue() })
	case '[':
		return d.array()
	case '"':
		_, _, err := d.stringToken()
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return d.number()
		}
		if c == 0 && d.off >= len(d.data) {
			return d.syntaxErr("unexpected end of JSON input")
		}
		return d.syntaxErr("invalid character")
	}
}

func (d *verifyDecoder) digits() int {
	n := 0
	for d.off < len(d.data) && '0' <= d.data[d.off] && d.data[d.off] <= '9' {
		d.off++
		n++
	}
	return n
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *verifyDecoder) number() error {
	if d.peek() == '-' {
		d.off++
	}
	switch c := d.peek(); {
	case c == '0':
		d.off++
	case '1' <= c && c <= '9':
		d.digits()
	default:
		return d.syntaxErr("invalid number")
	}
	if d.peek() == '.' {
		d.off++
		if d.digits() == 0 {
			return d.syntaxErr("invalid number")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.off++
		if c := d.peek(); c == '+' || c == '-' {
			d.off++
		}
		if d.digits() == 0 {
			return d.syntaxErr("invalid number")
		}
	}
	return nil
}

// stringToken reads a string at d.off; it returns the index of the opening
// quote and whether the content can be used as is (no escapes, valid UTF-8).
func (d *verifyDecoder) stringToken() (start int, plain bool, err error) {
	start = d.off
	d.off++
	plain = true
	ascii := true
	for d.off < len(d.data) {
		c := d.data[d.off]
		switch {
		case c == '"':
			d.off++
			if !ascii && plain {
				plain = utf8.Valid(d.data[start+1 : d.off-1])
			}
			return start, plain, nil
		case c == '\\':
			plain = false
			d.off++
			switch d.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.off++
			case 'u':
				d.off++
				for range 4 {
					h := d.peek()
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false, d.syntaxErr("invalid escape")
					}
					d.off++
				}
			default:
				if d.off >= len(d.data) {
					return 0, false, d.syntaxErr("unexpected end of JSON input")
				}
				return 0, false, d.syntaxErr("invalid escape")
			}
		case c < 0x20:
			return 0, false, d.syntaxErr("control character in string")
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			d.off++
		}
	}
	return 0, false, d.syntaxErr("unexpected end of JSON input")
}

// stringValue reads a string value.
func (d *verifyDecoder) stringValue() (string, error) {
	start, plain, err := d.stringToken()
	if err != nil {
		return "", err
	}
	if plain {
		return string(d.data[start+1 : d.off-1]), nil
	}
	return d.unquote(start)
}

// key reads an object key, unquoted (aliasing the input when it has no
// escapes).
func (d *verifyDecoder) key() ([]byte, error) {
	start, plain, err := d.stringToken()
	if err != nil {
		return nil, err
	}
	if plain {
		return d.data[start+1 : d.off-1], nil
	}
	s, err := d.unquote(start)
	return []byte(s), err
}

// unquote decodes the (valid) string token from start to d.off with
// encoding/json, for its handling of escapes and invalid UTF-8.
func (d *verifyDecoder) unquote(start int) (string, error) {
	var s string
	if err := json.Unmarshal(d.data[start:d.off], &s); err != nil {
		return "", fmt.Errorf("%w: verify: %v", ErrBadResponse, err)
	}
	return s, nil
}

// BenchmarkDecodeVerification measures the library decoder (lib) against
// the hand-written reference (ref) on the repository's verify bodies. Run
// with
//
//	go test -run x -bench DecodeVerification -benchmem ./customeros/
func BenchmarkDecodeVerification(b *testing.B) {
	for _, name := range []string{"verify_current.json", "verify_legacy.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			b.Fatal(err)
		}
		for _, dec := range []struct {
			name string
			fn   func([]byte) (*Verification, error)
		}{{"lib", decodeVerification}, {"ref", refDecodeVerification}} {
			b.Run(strings.TrimSuffix(name, ".json")+"/"+dec.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if _, err := dec.fn(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
