package redact

import (
	"net/url"
	"strings"
)

// URL returns s, a URL or a path, fit for messages and reports: the
// password in its user info and the values of query parameters whose name
// suggests a secret (password, secret, token, key, credential) become
// "xxxxx". A string without "://" is returned as it is; one that does not
// parse keeps only its scheme.
func URL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return s[:i] + "://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.RawQuery != "" {
		q, changed := u.Query(), false
		for k := range q {
			if secretParam(k) {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, w := range []string{"password", "secret", "token", "key", "credential"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
