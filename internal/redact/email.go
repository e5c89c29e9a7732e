package redact

import "strings"

// EmailPlaceholder replaces an address in Emails' output.
const EmailPlaceholder = "<email>"

// Emails replaces every email address in s (a run of local-part
// characters, "@", and a domain with a dot) with EmailPlaceholder, so that
// a server's message echoing a contact's address can go to a log line
// without the address. It is deliberately wide: anything address-shaped
// goes, whether it is a valid address or not.
func Emails(s string) string {
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is written
	for at >= 0 {
		i := at
		for i > last && isLocal(s[i-1]) {
			i--
		}
		j := at + 1
		for j < len(s) && isDomain(s[j]) {
			j++
		}
		for j > at+1 && s[j-1] == '.' { // a sentence's full stop
			j--
		}
		if i < at && strings.IndexByte(s[at+1:j], '.') > 0 {
			b.WriteString(s[last:i])
			b.WriteString(EmailPlaceholder)
			last = j
		} else {
			j = at + 1
		}
		next := strings.IndexByte(s[j:], '@')
		if next < 0 {
			break
		}
		at = j + next
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isLocal reports a character of an address's local part (RFC 5322 atext
// and the dot; quoted local parts are not looked for).
func isLocal(c byte) bool {
	return isWord(c) || c == '.' || strings.IndexByte("!#$%&'*+/=?^`{|}~-", c) >= 0 || c >= 0x80
}

// isDomain reports a character of a domain name (letters, digits, hyphen,
// dot; any non-ASCII byte, for internationalized names).
func isDomain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c >= 0x80
}
