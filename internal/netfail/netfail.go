// Package netfail tells a service that could not be reached (storage,
// a database) from one that answered no: the first is worth a resumable
// stop ("rerun the same command when it is back"), the second is the
// user's to fix.
package netfail

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
)

// NoServer reports whether err means the request reached no server at
// all: the connection was refused, the network or host is unreachable, or
// the name does not resolve. A timeout or a reset is not one: a server may
// be there, too busy to answer.
func NoServer(err error) bool {
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		(errors.As(err, &dns) && !dns.IsTimeout)
}

// Unreachable reports whether err means the service could not be reached
// or stopped answering part way: a refused, reset or unroutable
// connection, a failed DNS lookup, a timeout, a connection closed before
// the answer was complete, or an HTTP 5xx that outlived the client's own
// retries. It returns the short cause for a one-line message ("connection
// refused", "lookup s3.example: no such host", "timeout", "HTTP 503").
// A cancelled context (a signal) is not an outage: it returns false.
func Unreachable(err error) (cause string, ok bool) {
	var (
		dns    *net.DNSError
		ne     net.Error
		status interface{ HTTPStatusCode() int }
	)
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return "", false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset by peer", true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host", true
	case errors.As(err, &dns):
		return "lookup " + dns.Name + ": " + dns.Err, true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &ne) && ne.Timeout():
		return "timeout", true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed before the answer was complete", true
	case errors.As(err, &status) && status.HTTPStatusCode() >= 500:
		return "HTTP " + strconv.Itoa(status.HTTPStatusCode()), true
	}
	return "", false
}
