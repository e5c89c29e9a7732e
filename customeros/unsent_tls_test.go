package customeros_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/customeros/pace"
)

// TestTLSHandshakeStallIsNotUnsent: an API too overloaded to finish TLS
// handshakes accepts each connection (the server sees it, reads the
// ClientHello and spends work on it) and answers nothing before the attempt
// times out. That is the overload the 5xx/transport cut is there for
// (five in a row: x0.75), and the server did see the attempt; but the
// client reports every such attempt as Outcome.Unsent ("the server saw
// nothing of it": connection refused, DNS), because no request header was
// written yet, so the pacer refunds each grant and never slows down. The
// same stall over plain HTTP (headers written, then no answer) is cut.
// The production API is https, so an overloaded API is asked as hard as
// ever, retries unpaced.
func TestTLSHandshakeStallIsNotUnsent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open: the handshake never completes
			accepted++
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	c := customeros.New("https://"+ln.Addr().String(), key)
	c.InitialBackoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	c.AttemptTimeout = 200 * time.Millisecond
	c.MaxAttempts = 5
	p := pace.New(0)
	// A pace that met the limit in an earlier run: 40 req/s.
	p.Recall(map[string]pace.Pace{string(customeros.EndpointVerify): {Rate: 40, Limited: true}})
	c.Pacer = p
	before := p.Limit(customeros.EndpointVerify)

	_, err = c.VerifyEmail(context.Background(), "jane@acme.com")
	if err == nil {
		t.Fatal("a call to a server that never finishes a handshake succeeded")
	}
	mu.Lock()
	n := accepted
	mu.Unlock()
	if n < 5 {
		t.Fatalf("the server accepted %d connections, want 5 (one per attempt): %v", n, err)
	}
	after := p.Limit(customeros.EndpointVerify)
	t.Logf("error: %v", err)
	if after >= before {
		t.Errorf("pace after 5 attempts the server accepted and never answered (TLS handshake stalled) = %.2f, want it cut (x0.75) from %.2f as 5xx and stalls after the headers are",
			after, before)
	}
}
