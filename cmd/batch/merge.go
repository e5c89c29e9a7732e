package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/shard"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
	"github.com/contactbatch/batch/sinks/shardmerge"
)

// MergeCmd is `batch merge`: it joins the output files of a sharded job
// (one per shard, shard 0 first) into the file one unsharded run writes.
// It reads the input again, with the same input flags as the runs, to
// know which shard each row went to.
type MergeCmd struct {
	JobFlags `embed:""`
	Rejects  string   `help:"Merged reject file. Default: <output>.rejects.csv. Each part's reject file is read from beside it (<part>.rejects.csv)." type:"path"`
	Parts    []string `arg:"" help:"The shards' output files (CSV or JSONL), shard 0 first." type:"path"`
}

func (c *MergeCmd) run(ctx context.Context, e *env) error {
	mf, err := c.format()
	if err != nil {
		return err
	}
	parts, rparts, err := c.openShardParts(mf)
	if err != nil {
		return err
	}
	defer closeParts(parts)
	defer closeParts(rparts)
	in, closeIn, err := openStream(ctx, c.Input, e.Stdin) // a named pipe is opened once
	if err != nil {
		return err
	}
	defer closeIn()
	_, stdin, err := fingerprint(ctx, c.Input, in)
	if err != nil {
		if errors.Is(err, pipeline.ErrStopped) {
			return err // the input's storage is down: rerun merge when it is back
		}
		return usagef("merge: input %s: %w", c.Input, err)
	}
	src, err := c.openDetected(ctx, stdin)
	if err != nil {
		return err
	}
	defer src.Close()
	rejectsPath := c.Rejects
	if rejectsPath == "" {
		rejectsPath = strings.TrimSuffix(c.Output, filepath.Ext(c.Output)) + ".rejects.csv"
	}
	rows, rejects, err := c.write(ctx, src, parts, rparts, rejectsPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "batch: merged %d shards: %d rows to %s, %d rejects to %s\n", len(c.Parts), rows, c.Output, rejects, rejectsPath)
	return nil
}

// format checks that the output and every part are local CSV or JSONL
// files of one format, and returns it.
func (c *MergeCmd) format() (shardmerge.Format, error) {
	if c.Output == "" || c.Output == "-" || !isLocalFile(c.Output) {
		return 0, usagef("merge: --output must be a local .csv or .jsonl file")
	}
	format, err := filesink.FormatFor(c.Output)
	if err != nil {
		return 0, usagef("merge: output %s: %w", c.Output, err)
	}
	var mf shardmerge.Format
	switch format {
	case filesink.CSV:
		mf = shardmerge.CSV
	case filesink.JSONL:
		mf = shardmerge.JSONL
	default:
		return 0, usagef("merge: %s output cannot be merged; run the shards with CSV or JSONL outputs", format)
	}
	for _, p := range c.Parts {
		if pf, err := filesink.FormatFor(p); err != nil || pf != format {
			return 0, usagef("merge: part %s is not a %s file like the output", p, format)
		}
		if filepath.Clean(p) == filepath.Clean(c.Output) {
			return 0, usagef("merge: part %s is also the output", p)
		}
	}
	return mf, nil
}

// openShardParts opens the parts (in format mf) and their reject files, and
// checks that the parts, and the reject files, share one header.
func (c *MergeCmd) openShardParts(mf shardmerge.Format) (parts, rparts []*shardmerge.Part, err error) {
	parts, err = openParts(c.Parts, mf, func(p string) string { return p })
	if err != nil {
		return nil, nil, err
	}
	rparts, err = openParts(c.Parts, shardmerge.CSV, partRejects)
	if err != nil {
		closeParts(parts)
		return nil, nil, err
	}
	err = shardmerge.SameHeaders(parts)
	if err == nil {
		err = shardmerge.SameHeaders(rparts)
	}
	if err != nil {
		closeParts(rparts)
		closeParts(parts)
		return nil, nil, usagef("merge: %w", err)
	}
	return parts, rparts, nil
}

// write writes the merged output and rejects file from the parts, in the
// input's row order, and publishes both once every part was used up.
func (c *MergeCmd) write(ctx context.Context, src pipeline.Source, parts, rparts []*shardmerge.Part, rejectsPath string) (rows, rejects int64, err error) {
	out, err := shardmerge.Create(c.Output, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer out.Abort()
	rout, err := shardmerge.Create(rejectsPath, filesink.RejectsMode)
	if err != nil {
		return 0, 0, err
	}
	defer rout.Abort()
	if err := out.Write(parts[0].Header()); err != nil {
		return 0, 0, err
	}
	if err := rout.Write(rparts[0].Header()); err != nil {
		return 0, 0, err
	}
	rows, rejects, err = interleave(ctx, src, len(c.Parts), parts, rparts, out, rout)
	if err != nil {
		return 0, 0, err
	}
	if err := errors.Join(shardmerge.Drained(parts), shardmerge.Drained(rparts)); err != nil {
		return 0, 0, usagef("merge: %w (were the parts written from this input, with these flags, shard 0 first?)", err)
	}
	if err := out.Close(); err != nil {
		return 0, 0, err
	}
	return rows, rejects, rout.Close()
}

// interleave reads the input and copies, for each row in input order, the
// next record of the shard that owns it.
func interleave(ctx context.Context, src pipeline.Source, n int, parts, rparts []*shardmerge.Part, out, rout *shardmerge.Writer) (rows, rejects int64, err error) {
	checker := contact.NewChecker()
	for seq := int64(0); ; seq++ {
		row, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return rows, rejects, nil
		}
		var rowErr *pipeline.RowError
		if errors.As(err, &rowErr) {
			if err := copyNext(rparts[shard.Of("", seq, n)], rout, rowErr.Line); err != nil {
				return rows, rejects, err
			}
			rejects++
			continue
		}
		if err != nil {
			return rows, rejects, fmt.Errorf("merge: read input: %w", err)
		}
		c := contact.Normalize(row.Contact, checker.NotCompany)
		if err := copyNext(parts[shard.Of(shard.Key(c), seq, n)], out, row.Line); err != nil {
			return rows, rejects, err
		}
		rows++
	}
}

func copyNext(p *shardmerge.Part, w *shardmerge.Writer, line int64) error {
	b, err := p.Next()
	if errors.Is(err, io.EOF) {
		return usagef("merge: %w: a part ran out of records at input line %d (were the parts written from this input, with these flags, shard 0 first?)", shardmerge.ErrMismatch, line)
	}
	if err != nil {
		return usagef("merge: %w", err)
	}
	return w.Write(b)
}

// partRejects is where a shard run with --output p wrote its rejects by
// default.
func partRejects(p string) string {
	return strings.TrimSuffix(p, filepath.Ext(p)) + ".rejects.csv"
}

func openParts(paths []string, f shardmerge.Format, name func(string) string) ([]*shardmerge.Part, error) {
	parts := make([]*shardmerge.Part, 0, len(paths))
	for _, p := range paths {
		part, err := shardmerge.OpenPart(name(p), f)
		if err != nil {
			closeParts(parts)
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, shardmerge.ErrMismatch) {
				return nil, usagef("merge: %w", err)
			}
			return nil, err
		}
		parts = append(parts, part)
	}
	return parts, nil
}

func closeParts(parts []*shardmerge.Part) {
	for _, p := range parts {
		p.Close()
	}
}
