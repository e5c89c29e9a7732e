package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/contactbatch/batch/customeros/sandbox"
)

// SandboxCmd is `batch sandbox`: the CustomerOS API emulator.
type SandboxCmd struct {
	Addr          string        `help:"Listen address (loopback only unless you mean it)." default:"127.0.0.1:8080"`
	Shape         string        `help:"Response shape: current, legacy or mixed (per key)." enum:"current,legacy,mixed" default:"current"`
	APIKey        string        `help:"Accept only this API key (default: any non-empty key). Prefer CUSTOMEROS_SANDBOX_KEY." env:"CUSTOMEROS_SANDBOX_KEY" name:"api-key"`
	Latency       time.Duration `help:"Added latency per request." default:"0s"`
	Jitter        time.Duration `help:"Random extra latency, up to this much." default:"0s"`
	RateLimit     float64       `help:"Requests per second before answering 429 with Retry-After (0: off)." default:"0"`
	RateBurst     int           `help:"Burst for --rate-limit." default:"0"`
	RateScope     string        `help:"Token buckets for --rate-limit: shared (one), endpoint (one per endpoint family) or key (one per API key)." enum:"shared,endpoint,key" default:"shared"`
	Fail500       float64       `help:"Fraction of requests answered 500." default:"0" name:"fail-500"`
	Fail502       float64       `help:"Fraction of requests answered 502." default:"0" name:"fail-502"`
	Fail503       float64       `help:"Fraction of requests answered 503." default:"0" name:"fail-503"`
	Reset         float64       `help:"Fraction of connections reset." default:"0"`
	Hang          float64       `help:"Fraction of requests that hang." default:"0"`
	HangFor       time.Duration `help:"How long a hanging request hangs." default:"2m"`
	Truncate      float64       `help:"Fraction of responses cut mid-body." default:"0"`
	AsyncFraction float64       `help:"Fraction of person lookups answered 202 (poll later)." default:"0"`
	AsyncDelay    time.Duration `help:"When an async person lookup completes." default:"5s"`
	BulkDelay     time.Duration `help:"When a bulk verify job completes." default:"3s"`
	Credits       int64         `help:"Billable events before answering 402 (0: unlimited)." default:"0"`
	Seed          int64         `help:"Seed for the fault and async decisions." default:"1"`
}

func (c *SandboxCmd) options() sandbox.Options {
	o := sandbox.DefaultOptions()
	o.Shape, o.APIKey = c.Shape, c.APIKey
	o.Latency, o.Jitter = c.Latency, c.Jitter
	o.RateLimit, o.RateBurst, o.RateScope = c.RateLimit, c.RateBurst, c.RateScope
	o.Fail500, o.Fail502, o.Fail503 = c.Fail500, c.Fail502, c.Fail503
	o.Reset, o.Hang, o.HangFor, o.Truncate = c.Reset, c.Hang, c.HangFor, c.Truncate
	o.AsyncFraction, o.AsyncDelay, o.BulkDelay = c.AsyncFraction, c.AsyncDelay, c.BulkDelay
	o.Credits, o.Seed = c.Credits, c.Seed
	return o
}

func (c *SandboxCmd) run(ctx context.Context, e *env) error {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return usagef("sandbox: %w", err)
	}
	srv := &http.Server{Handler: sandbox.New(c.options()), ReadHeaderTimeout: 10 * time.Second}
	e.log.Info("sandbox listening", "url", "http://"+ln.Addr().String(), "shape", c.Shape,
		"counters", "http://"+ln.Addr().String()+"/_sandbox/counters")
	fmt.Fprintf(e.Stdout, "http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
