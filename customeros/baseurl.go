package customeros

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ErrInsecureURL is returned by CheckBaseURL for a plain-http URL to a host
// off loopback: the API key would cross the network in cleartext.
var ErrInsecureURL = errors.New("plain http to a non-loopback host would send the API key in cleartext")

// CheckBaseURL validates an API base URL before anything is dialled: it must
// be https, or http to a loopback address (127.0.0.0/8 or ::1, written as
// an IP: a name could resolve anywhere). allowInsecure accepts plain http
// to any host; insecure then reports that the key will travel in cleartext,
// for the caller to warn.
func CheckBaseURL(raw string, allowInsecure bool) (insecure bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("%w: API URL: %v", ErrInvalidArgument, err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return false, fmt.Errorf("%w: API URL %q has no host", ErrInvalidArgument, raw)
	}
	if u.User != nil {
		return false, fmt.Errorf("%w: API URL must not hold credentials", ErrInvalidArgument)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return false, nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return false, nil
		}
		if allowInsecure {
			return true, nil
		}
		return false, fmt.Errorf("%w (%s); use https, or --insecure-http if you must", ErrInsecureURL, u.Host)
	}
	return false, fmt.Errorf("%w: API URL scheme %q is not https", ErrInvalidArgument, u.Scheme)
}

// IsLoopback reports whether host is a loopback IP literal (127.0.0.0/8, ::1).
func IsLoopback(host string) bool {
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
