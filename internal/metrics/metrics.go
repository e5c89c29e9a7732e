// Package metrics publishes a run's figures in the Prometheus text format:
// as a file for node_exporter's textfile collector (written atomically)
// and on an HTTP /metrics endpoint. It reads the figures from a function
// at every scrape or write, so it holds no counts of its own.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Values are the figures published. Rows and Paid count the whole job;
// Calls and HTTP429 this run (a new process starts them at zero).
type Values struct {
	RowsByState map[string]int64    // batch_rows_total{state}
	Calls       map[[2]string]int64 // batch_api_calls_total{endpoint, outcome}
	Paid        int64               // batch_paid_calls_total
	HTTP429     int64               // batch_http_429_total
	LastSuccess time.Time           // batch_run_last_success_timestamp_seconds (zero: never)
}

var (
	rowsDesc = prometheus.NewDesc("batch_rows_total",
		"Rows of the job done, by row state (final: ok, not_found, skipped, invalid, refused, rejected; retryable: error, pending).",
		[]string{"state"}, nil)
	callsDesc = prometheus.NewDesc("batch_api_calls_total",
		"HTTP attempts this run by API endpoint and outcome (ok, throttled, client_error, server_error, transport_error).",
		[]string{"endpoint", "outcome"}, nil)
	paidDesc = prometheus.NewDesc("batch_paid_calls_total",
		"Calls billed over the job, by the API's billing rules.", nil, nil)
	http429Desc = prometheus.NewDesc("batch_http_429_total",
		"HTTP 429 (rate limited) answers this run.", nil, nil)
	successDesc = prometheus.NewDesc("batch_run_last_success_timestamp_seconds",
		"When a run of the job last finished (Unix time).", nil, nil)
)

// collector turns Values into metrics at each collection.
type collector struct{ values func() Values }

// Describe sends the descriptors of every metric.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rowsDesc, callsDesc, paidDesc, http429Desc, successDesc} {
		ch <- d
	}
}

// Collect reads the values and sends them as metrics.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	v := c.values()
	for state, n := range v.RowsByState {
		ch <- prometheus.MustNewConstMetric(rowsDesc, prometheus.CounterValue, float64(n), state)
	}
	for k, n := range v.Calls {
		ch <- prometheus.MustNewConstMetric(callsDesc, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(paidDesc, prometheus.CounterValue, float64(v.Paid))
	ch <- prometheus.MustNewConstMetric(http429Desc, prometheus.CounterValue, float64(v.HTTP429))
	if !v.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, float64(v.LastSuccess.UnixNano())/1e9)
	}
}

// Publisher serves and writes the metrics read from one function.
type Publisher struct {
	reg *prometheus.Registry
}

// New returns a Publisher of the values returned by values (called at
// each scrape and write; it must be safe for concurrent use).
func New(values func() Values) *Publisher {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{values})
	return &Publisher{reg: reg}
}

// WriteFile writes the metrics to path atomically (a temporary file in
// the same directory, then a rename), for the textfile collector.
func (p *Publisher) WriteFile(path string) error {
	if err := prometheus.WriteToTextfile(path, p.reg); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// Serve listens on addr and serves /metrics until ctx is done or the
// returned stop is called; it returns the address it listens on.
func (p *Publisher) Serve(ctx context.Context, addr string) (string, func(), error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics address: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return
		}
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}
	return ln.Addr().String(), stop, nil
}
