package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

// CLI is the command line. Every flag can also be set in a YAML file
// given with --config (keys are flag names, dashes or underscores).
type CLI struct {
	Config     kong.ConfigFlag  `help:"YAML file with flag values: keys are flag names (verify, enrich-org or enrich_org); an unknown key is an error. Command-line flags, then environment variables, win over it." type:"existingfile" placeholder:"job.yaml"`
	Version    kong.VersionFlag `help:"Print the version and commit, then exit."`
	LogFormat  string           `help:"Log format: auto (text), text or json." enum:"auto,text,json" default:"auto"`
	Quiet      bool             `help:"Only warnings and errors on stderr, no progress." short:"q"`
	CPUProfile string           `help:"Write a CPU profile to this file (for performance work)." hidden:"" type:"path" name:"cpu-profile"`
	MemProfile string           `help:"Write an allocation profile to this file at exit (for performance work)." hidden:"" type:"path" name:"mem-profile"`

	Run      RunCmd      `cmd:"" help:"Verify and enrich a contact list, resumably."`
	Estimate EstimateCmd `cmd:"" help:"Read the input and print the calls a run would pay for."`
	Status   StatusCmd   `cmd:"" help:"Show the progress of a job from its state directory."`
	Sandbox  SandboxCmd  `cmd:"" help:"Serve the CustomerOS API emulator for demos and tests."`
	Merge    MergeCmd    `cmd:"" help:"Join the per-shard output files of a sharded job into the file one run writes."`
	Purge    PurgeCmd    `cmd:"" help:"Delete a contact's (--email) or a domain's (--domain) answers from the cache and a job's state."`
}

// JobFlags are the flags shared by run and estimate.
type JobFlags struct {
	Input  string `help:"Input: a CSV or .xlsx path, - for stdin, s3://bucket/key or s3://bucket/prefix/ (gzip detected)." required:"" short:"i"`
	Output string `help:"Output: *.csv, *.jsonl, *.xlsx, - (stdout), sqlite://path.db, postgres://..., s3://bucket/key.csv|jsonl." short:"o"`

	Verify       bool `help:"Verify email addresses."`
	EnrichPerson bool `help:"Enrich people (by email, else LinkedIn URL)."`
	EnrichOrg    bool `help:"Enrich organizations (by domain, else company LinkedIn URL)."`

	Delimiter string `help:"Input field separator: one character or comma, semicolon, tab, pipe (default: detected among , ; tab |)." placeholder:"SEP"`
	Sheet     string `help:"Workbook sheet to read (.xlsx input): its name or 1-based position (default: the first visible sheet)." placeholder:"NAME|INDEX"`
	Encoding  string `help:"Input character encoding, e.g. windows-1252, iso-8859-15, utf-16le (default: the byte order mark's, else UTF-8 if valid, else windows-1252)." placeholder:"NAME"`

	Map           map[string]string `help:"Map an input column to a field (column=field; field one of email, first_name, last_name, full_name, title, company, website, domain, linkedin_url, company_linkedin_url, phone, or - to ignore)." placeholder:"COLUMN=FIELD"`
	SendInvalid   bool              `help:"Send locally invalid addresses to the API anyway."`
	CheckMX       bool              `help:"Look up MX records and treat domains without one as invalid (uses DNS)." name:"check-mx"`
	IncludeMobile bool              `help:"Ask person enrichment for mobile numbers."`
	VerifyMode    string            `help:"single: one call per address; bulk: CSV upload jobs; auto: bulk for inputs over --bulk-threshold bytes." enum:"single,bulk,auto" default:"single"`
	BulkThreshold int64             `help:"Input size (bytes) from which --verify-mode auto uses bulk." default:"10000000"`
	BulkSize      int               `help:"Addresses per bulk verify job." default:"5000"`

	APIURL       string `help:"API base URL." env:"CUSTOMEROS_API_URL" default:"https://api.customeros.ai" name:"api-url"`
	APIKeyFile   string `help:"File holding the API key (else CUSTOMEROS_API_KEY). Never pass the key on the command line." env:"CUSTOMEROS_API_KEY_FILE" type:"path" name:"api-key-file"`
	InsecureHTTP bool   `help:"Allow plain http to an API URL off loopback (the key then travels in cleartext; a warning is printed)." name:"insecure-http"`

	Cache    string        `help:"Result cache shared across runs: a file (default: in the user cache dir) or postgres://… (shared by the shards of a job)."`
	NoCache  bool          `help:"Neither read nor write the result cache."`
	ClaimTTL time.Duration `help:"With a postgres:// cache: how long a key claimed by one process keeps others from paying for it (a killed process's claims are taken over after this)." default:"2m" name:"claim-ttl"`
	Refresh  bool          `help:"Ignore cached answers (fresh ones are still cached)."`
	CacheTTL string        `help:"Cache time-to-live per verdict, e.g. deliverable=720h,unknown=24h,default=168h." name:"cache-ttl"`
}

// RunCmd is `batch run`.
type RunCmd struct {
	JobFlags   `embed:""`
	ShardFlags `embed:""`
	// outputPattern is --output as given, before {shard} is expanded.
	outputPattern string

	State          string        `help:"State directory (ledger, lock, report). Default: <output>.state beside a file output, else .batch-state/<job hash>." type:"path"`
	Rejects        string        `help:"Reject file (CSV: line, origin, reason, raw). Default: <output>.rejects.csv beside a file output, else in the state directory." type:"path"`
	Report         string        `help:"JSON report file. Default: report.json in the state directory." type:"path"`
	ReportHTML     string        `help:"HTML report (one self-contained page, no network: charts of verdicts, rows, spend and savings, calls and 429s over time, top domains, reject reasons, run history), written with report.json. Default: report.html in the state directory." type:"path" name:"report-html"`
	Restart        bool          `help:"Discard the job's state (and its unfinished output) and start over; needed when the input or the options changed."`
	Workers        int           `help:"Concurrent calls per API stage." default:"16" short:"w"`
	Rate           float64       `help:"Requests per second per endpoint (0: as fast as the API accepts); a sharded run divides it among the shards." default:"0"`
	MaxCalls       int64         `help:"Paid calls this run may make; the run stops (resumable) when reached. 0: no cap." default:"0"`
	AsyncTimeout   time.Duration `help:"How long to keep polling an async person lookup before writing the row as pending." default:"15m"`
	Table          string        `help:"Table for database outputs." default:"contacts"`
	UpsertKey      string        `help:"Database upsert key: row (job, row) or email (one row per contact)." enum:"row,email" default:"row"`
	NoEscape       bool          `help:"Do not neutralize spreadsheet formulas (cells starting = + - @) in CSV output."`
	OutputMode     string        `help:"Permission bits (octal) of a new output file; the default keeps contacts' data private to you." default:"0600" name:"output-mode"`
	AttemptTimeout time.Duration `help:"Bound on one HTTP attempt (headers and body); a hung request is abandoned and retried after it." default:"60s" name:"attempt-timeout"`
	BOM            bool          `help:"Start CSV output with a UTF-8 byte order mark (for Excel); without it the output has one when the input had one." name:"bom"`
	Progress       string        `help:"Progress display: auto (bar on a terminal, log lines otherwise), bar, log, none." enum:"auto,bar,log,none" default:"auto"`
	MetricsFile    string        `help:"Write Prometheus metrics to this file (textfile collector format), atomically at each commit and at exit." type:"path" name:"metrics-file"`
	MetricsAddr    string        `help:"Serve Prometheus metrics on http://ADDR/metrics during the run (e.g. 127.0.0.1:9464)." name:"metrics-addr"`

	dialect csvsource.Dialect // the input's, resolved by run
}

// EstimateCmd is `batch estimate`.
type EstimateCmd struct {
	JobFlags `embed:""`
	JSON     bool `help:"Print JSON."`
}

// StatusCmd is `batch status`.
type StatusCmd struct {
	State    string        `help:"State directory of the job." required:"" type:"path"`
	JSON     bool          `help:"Print JSON."`
	Watch    bool          `help:"Refresh while the job runs (ends when it stops or finishes)."`
	Interval time.Duration `help:"Refresh interval for --watch." default:"2s"`
}

// newParser builds the command-line parser into cli; exit is called
// instead of os.Exit (after --help, say).
func newParser(cli *CLI, stdout, stderr io.Writer, exit func(int), getenv func(string) string) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("batch"),
		kong.Description("Clean and enrich contact lists through the CustomerOS APIs, resumably."),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.Configuration(configLoader(getenv)),
		kong.Vars{"version": versionString()},
		kong.UsageOnError(),
	)
}

// Run parses args and runs the command; it returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	outer := m // main's signal handler prints through it
	tty, _ := m.Stderr.(*os.File)
	stderr := &secretWriter{w: m.Stderr}
	m = &Main{Stdin: m.Stdin, Stdout: m.Stdout, Stderr: stderr, Getenv: m.Getenv}
	var cli CLI
	exit := -1
	parser, err := newParser(&cli, m.Stdout, m.Stderr, func(code int) { exit = code }, m.Getenv)
	if err != nil {
		fmt.Fprintln(m.Stderr, "batch:", err)
		return ExitFailed
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 {
		return exit // --help
	}
	if err != nil {
		fmt.Fprintln(m.Stderr, "batch:", err)
		return ExitUsage
	}
	if cli.CPUProfile != "" {
		stop, err := startCPUProfile(cli.CPUProfile)
		if err != nil {
			fmt.Fprintln(m.Stderr, "batch:", err)
			return ExitUsage
		}
		defer stop()
	}
	if cli.MemProfile != "" {
		defer writeMemProfile(cli.MemProfile, m.Stderr)
	}
	logw := &switchWriter{w: m.Stderr}
	log := m.logger(logw, cli.LogFormat, cli.Quiet)
	env := &env{Main: m, log: log, logw: logw, quiet: cli.Quiet, secrets: stderr, tty: tty, args: args}
	errw := m.Stderr
	if cli.LogFormat == "json" {
		// Every line on stderr is JSON: plain messages become log records.
		outer.jsonLog.Store(true)
		env.Main = &Main{Stdin: m.Stdin, Stdout: m.Stdout, Stderr: &jsonLines{log: log, level: slog.LevelInfo}, Getenv: m.Getenv}
		env.json = true
		errw = &jsonLines{log: log, level: slog.LevelError}
	}
	switch kctx.Command() {
	case "run":
		err = cli.Run.run(ctx, env)
	case "estimate":
		err = cli.Estimate.run(ctx, env)
	case "status":
		err = cli.Status.run(ctx, env)
	case "sandbox":
		err = cli.Sandbox.run(ctx, env)
	case "merge <parts>":
		err = cli.Merge.run(ctx, env)
	case "purge":
		err = cli.Purge.run(ctx, env)
	default:
		err = usagef("unknown command %q", kctx.Command())
	}
	if err != nil && ctx.Err() != nil && !isUsage(err) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// Stopped (SIGINT/SIGTERM) before the run had started its rows: the
		// state is as consistent as after a stop, so it is a resumable stop.
		err = fmt.Errorf("%w: %w", pipeline.ErrStopped, err)
	}
	return exitCode(errw, err)
}

// exitCode prints err and maps it to an exit code.
func exitCode(w io.Writer, err error) int {
	switch {
	case err == nil:
		return ExitOK
	case isUsage(err):
		fmt.Fprintln(w, "batch:", err)
		return ExitUsage
	case errors.As(err, new(*retryableError)):
		fmt.Fprintln(w, "batch:", err)
		return ExitRetryable
	case errors.Is(err, pipeline.ErrStopped):
		fmt.Fprintln(w, "batch:", err)
		switch {
		case errors.Is(err, customeros.ErrUnauthorized):
			fmt.Fprintln(w, "batch: the API rejected the key (401): check CUSTOMEROS_API_KEY or --api-key-file (and --api-url), then rerun the same command")
		case errors.Is(err, customeros.ErrForbidden):
			fmt.Fprintln(w, "batch: the key is not allowed to use this API (403): check CUSTOMEROS_API_KEY or --api-key-file, or ask for the API to be enabled for it, then rerun the same command")
		}
		fmt.Fprintln(w, "batch: the job is resumable: run the same command again to continue")
		return ExitResumable
	}
	fmt.Fprintln(w, "batch:", err)
	return ExitFailed
}

// env is what commands get from Main.
type env struct {
	*Main
	log   *slog.Logger
	logw  *switchWriter // where log records go: stderr, or the progress display
	quiet bool
	// secrets redacts the API key from stderr once a command read it.
	secrets *secretWriter
	json    bool     // --log-format json: every stderr line is a JSON record
	tty     *os.File // stderr as the process got it, to tell a terminal
	args    []string // the command line (without the program name)
}

func (m *Main) logger(w io.Writer, format string, quiet bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if quiet {
		opts.Level = slog.LevelWarn
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeMemProfile(path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "batch: mem profile:", err)
	}
}

// apiKey reads the API key from the key file or the environment: the
// file's first key when it holds several (see apiKeys).
func (j *JobFlags) apiKey(getenv func(string) string) (string, error) {
	keys, err := j.apiKeys(getenv)
	if err != nil || len(keys) == 0 {
		return "", err
	}
	return keys[0], nil
}

// apiKeys reads the API keys: the key file's non-blank lines (lines
// starting # are comments), or CUSTOMEROS_API_KEY. Several keys are for a
// sharded run, whose shard I uses key I mod K.
func (j *JobFlags) apiKeys(getenv func(string) string) ([]string, error) {
	if j.APIKeyFile != "" {
		fi, err := os.Stat(j.APIKeyFile)
		if err != nil {
			return nil, usagef("api key file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, usagef("api key file %s is readable by others (mode %v): chmod 600 it", j.APIKeyFile, fi.Mode().Perm())
		}
		b, err := os.ReadFile(j.APIKeyFile)
		if err != nil {
			return nil, usagef("api key file: %w", err)
		}
		var keys []string
		for _, line := range strings.Split(string(b), "\n") {
			if k := strings.TrimSpace(line); k != "" && !strings.HasPrefix(k, "#") {
				keys = append(keys, k)
			}
		}
		return keys, nil
	}
	if k := getenv("CUSTOMEROS_API_KEY"); k != "" {
		return []string{k}, nil
	}
	return nil, nil
}
