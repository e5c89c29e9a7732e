// Command batchbench measures batch against the numbers DESIGN.md asks for
// ("Numbers it must reach") and prints them as one table: what | figure |
// ratio | target | PASS/FAIL, every row measured in this one run on this
// machine. `make bench` runs it as `go run ./cmd/batchbench -bin bin/batch`.
//
// The emulator (customeros/sandbox) runs inside this process on a loopback
// port; batch runs as the real binary, one child process per run, with
// CUSTOMEROS_API_KEY=bench, a fresh --state per run, --progress none and
// --no-cache. Inputs are generated deterministically from -seed. Targets
// are ratios of figures measured side by side, never absolute timings.
//
// Usage:
//
//	batchbench -bin bin/batch [-only overhead,latency,...] [-seed 1] [-pg URL] [-keep] [-strict]
//
// Exit status: 0 when every row was measured (whatever its verdict; with
// -strict, only when every row passed), 1 otherwise, 2 on bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Verdicts.
const (
	pass = "PASS"
	fail = "FAIL"
	info = "INFO" // a figure to report, no target
	skip = "SKIP"
	errv = "ERROR"
)

// result is one printed row of the table.
type result struct {
	What, Figure, Ratio, Target, Verdict string
	Note                                 string
	Took                                 time.Duration
}

// verdict returns pass when ok, else fail.
func verdict(ok bool) string {
	if ok {
		return pass
	}
	return fail
}

// bench holds what every row needs.
type bench struct {
	bin   string // absolute path of the batch binary
	dir   string // temporary root, removed at the end
	seed  uint64
	pgURL string
	log   io.Writer
	n     int // counter for fresh paths
}

// path returns a fresh path under the bench directory.
func (b *bench) path(name string) string {
	b.n++
	return filepath.Join(b.dir, fmt.Sprintf("%02d-%s", b.n, name))
}

// logf prints a progress line.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "  "+format+"\n", args...)
}

// row is one measurement.
type row struct {
	name    string
	what    string
	measure func(context.Context) ([]result, error)
}

func (b *bench) rows() []row {
	return []row{
		{"overhead", "pipeline overhead", b.overhead},
		{"latency", "latency hiding", b.latency},
		{"rate", "rate limit", b.rateLimit},
		{"async", "async", b.async},
		{"memory", "memory", b.memory},
		{"calls", "calls", b.calls},
		{"resume", "resume", b.resume},
		{"crash", "crash", b.crash},
		{"sink", "sink throughput", b.sinks},
		{"xlsx", "xlsx", b.xlsx},
		{"shards", "scale-out", b.shards},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == bareLoopCmd {
		return bareLoopMain(args[1:], stderr)
	}
	fs := flag.NewFlagSet("batchbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin/batch", "the batch binary to measure")
	only := fs.String("only", "", "comma-separated rows to run (overhead, latency, rate, async, memory, calls, resume, crash, sink, xlsx, shards); default all")
	seed := fs.Uint64("seed", 1, "seed for inputs, emulator faults and kill times")
	pg := fs.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL URL for the sink row")
	keep := fs.Bool("keep", false, "keep the temporary directory")
	strict := fs.Bool("strict", false, "exit 1 when a target is missed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	abs, err := filepath.Abs(*bin)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "batchbench: -bin: %v (run make build first)\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp("", "batchbench-")
	if err != nil {
		fmt.Fprintf(stderr, "batchbench: %v\n", err)
		return 1
	}
	if *keep {
		fmt.Fprintf(stderr, "batchbench: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	// batch remembers the paces it learned under the user cache directory;
	// one per bench run, so that no row starts from a pace an earlier
	// bench left (later runs against one emulator within a row do).
	if err := os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache")); err != nil {
		fmt.Fprintf(stderr, "batchbench: %v\n", err)
		return 1
	}
	b := &bench{bin: abs, dir: dir, seed: *seed, pgURL: *pg, log: stderr}

	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	var rows []row
	for _, r := range b.rows() {
		if len(want) == 0 || want[r.name] {
			rows = append(rows, r)
		}
	}
	for s := range want {
		if !slices.ContainsFunc(rows, func(r row) bool { return r.name == s }) {
			fmt.Fprintf(stderr, "batchbench: -only: unknown row %q\n", s)
			return 2
		}
	}

	start := time.Now()
	var all []result
	for i, r := range rows {
		fmt.Fprintf(stderr, "[%d/%d] %s\n", i+1, len(rows), r.what)
		t0 := time.Now()
		res, err := r.measure(ctx)
		took := time.Since(t0)
		if err != nil {
			res = append(res, result{What: r.what, Verdict: errv, Note: err.Error()})
		}
		for j := range res {
			res[j].Took = took
			fmt.Fprintf(stderr, "  => %s: %s | %s | %s | %s (%s)\n", res[j].What, res[j].Figure, res[j].Ratio, res[j].Target, res[j].Verdict, took.Round(100*time.Millisecond))
		}
		all = append(all, res...)
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "batchbench: interrupted\n")
			break
		}
	}
	printTable(stdout, all, time.Since(start))

	code := 0
	for _, r := range all {
		if r.Verdict == errv || (*strict && r.Verdict == fail) {
			code = 1
		}
	}
	if ctx.Err() != nil {
		code = 1
	}
	return code
}

// printTable prints the results as a Markdown table, then the notes.
func printTable(w io.Writer, all []result, total time.Duration) {
	fmt.Fprintf(w, "\nbatch benchmark: %d rows measured in %s (one run, this machine, loopback emulator)\n\n", len(all), total.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug&0)
	fmt.Fprintln(tw, "| what\t| figure\t| ratio\t| target\t| result\t| took\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, r := range all {
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n", r.What, r.Figure, r.Ratio, r.Target, r.Verdict, r.Took.Round(100*time.Millisecond))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nNotes:")
	for _, r := range all {
		if r.Note != "" {
			fmt.Fprintf(w, "- %s: %s\n", r.What, r.Note)
		}
	}
}
