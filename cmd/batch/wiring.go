package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
	"github.com/contactbatch/batch/sinks/s3sink"
	"github.com/contactbatch/batch/sinks/sqlsink"
	"github.com/contactbatch/batch/sources/csvsource"
	"github.com/contactbatch/batch/sources/s3source"
)

// source is what the commands need from an input.
type source interface {
	pipeline.Source
	Mapping() contact.Mapping
}

func fingerprint(ctx context.Context, input string) (string, error) {
	switch {
	case input == "-":
		return "stdin", nil
	case strings.HasPrefix(input, "s3://"):
		return s3source.Fingerprint(ctx, input)
	}
	return csvsource.Fingerprint(input)
}

func openSource(ctx context.Context, input string, overrides map[string]string, checker *contact.Checker, cursor string, header []string, e *env) (source, error) {
	opts := csvsource.Options{
		MapHeader: func(h []string) (contact.Mapping, error) { return contact.MapHeader(h, overrides) },
	}
	var (
		src source
		err error
	)
	if strings.HasPrefix(input, "s3://") {
		src, err = s3source.Open(ctx, input, opts, cursor, header)
	} else {
		if input == "-" {
			opts.Origin = "-"
		}
		src, err = csvsource.Open(ctx, input, opts, cursor, header)
	}
	if err != nil {
		if errors.Is(err, contact.ErrUnmapped) || errors.Is(err, os.ErrNotExist) {
			return nil, usagef("input %s: %w", input, err)
		}
		return nil, usageError{fmt.Errorf("input %s: %w", input, err)}
	}
	return src, nil
}

// openSink opens the output at pos (the last committed position).
func openSink(ctx context.Context, c *RunCmd, state, jobID string, schema pipeline.Schema, pos pipeline.Position) (pipeline.Sink, error) {
	out := c.Output
	switch {
	case isDatabase(out):
		s, err := sqlsink.Open(ctx, out, sqlsink.Options{Table: c.Table, UpsertKey: c.UpsertKey, JobID: jobID[:16], Schema: schema}, pos)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", redactURL(out), err)
		}
		return s, nil
	case strings.HasPrefix(out, "s3://"):
		format, err := filesink.FormatFor(s3KeyPath(out))
		if err != nil {
			return nil, usagef("output %s: %w", out, err)
		}
		opts := filesink.DefaultOptions()
		opts.Format, opts.Schema, opts.EscapeFormulas = format, schema, !c.NoEscape
		s, err := s3sink.Open(ctx, out, filepath.Join(state, "output.staging"), opts, pos)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", out, err)
		}
		return s, nil
	}
	format, err := filesink.FormatFor(out)
	if err != nil && out != "-" {
		return nil, usagef("output %s: %w", out, err)
	}
	if out == "-" {
		format = filesink.CSV
	}
	if pos != "" && out != "-" {
		reclaimPublished(out)
	}
	opts := filesink.DefaultOptions()
	opts.Format, opts.Schema, opts.EscapeFormulas = format, schema, !c.NoEscape
	s, err := filesink.Open(out, opts, pos)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", out, err)
	}
	return s, nil
}

// reclaimPublished handles a crash between publishing the output (rename
// of the partial file) and recording the job as finished: the published
// file is this job's, so it becomes the partial file again.
func reclaimPublished(path string) {
	if _, err := os.Stat(path + ".partial"); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(path); err == nil {
			os.Rename(path, path+".partial")
		}
	}
}

func openRejects(path string, pos pipeline.Position) (pipeline.RejectSink, error) {
	if pos != "" {
		reclaimPublished(path)
	}
	r, err := filesink.OpenRejects(path, pos)
	if err != nil {
		return nil, fmt.Errorf("rejects %s: %w", path, err)
	}
	return r, nil
}

func s3KeyPath(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}

// redactURL drops a password from a database URL for messages.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
			cred := rest[:at]
			if c := strings.IndexByte(cred, ':'); c >= 0 {
				return s[:i+3] + cred[:c] + ":***" + rest[at:]
			}
		}
	}
	return s
}

func openCache(ctx context.Context, j *JobFlags) (*checkpoint.Cache, error) {
	path := j.Cache
	if path == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, usagef("no user cache directory (%v): set --cache or --no-cache", err)
		}
		path = filepath.Join(dir, "batch", "cache.db")
	}
	ttl, err := parseTTL(j.CacheTTL)
	if err != nil {
		return nil, err
	}
	c, err := checkpoint.OpenCache(ctx, path, ttl)
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", path, err)
	}
	return c, nil
}

// parseTTL reads --cache-ttl: verdict=duration pairs, "default" for the rest.
func parseTTL(s string) (checkpoint.TTLPolicy, error) {
	p := checkpoint.DefaultTTLPolicy()
	if s == "" {
		return p, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return p, usagef("--cache-ttl: %q is not verdict=duration", kv)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return p, usagef("--cache-ttl %s: %w", k, err)
		}
		if k == "default" {
			p.Default = d
			continue
		}
		if p.ByVerdict == nil {
			p.ByVerdict = map[string]time.Duration{}
		}
		p.ByVerdict[k] = d
	}
	return p, nil
}
