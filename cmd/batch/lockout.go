package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/internal/outlock"
)

// outputLockPath is where the lock tying an output to its job lives: beside
// a file output, and for an S3 output under the user cache directory (it
// then holds between the jobs of one user on this machine). Database outputs
// and stdout have none: database rows are keyed by job.
func outputLockPath(out string) string {
	switch {
	case isLocalFile(out):
		return out + ".lock"
	case strings.HasPrefix(out, "s3://"):
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		h := sha256.Sum256([]byte(s3KeyPath(out)))
		return filepath.Join(dir, "batch", "outputs", hex.EncodeToString(h[:12])+".lock")
	}
	return ""
}

// lockOutput ties the output to the job in state, or refuses (a usage
// error, exit 2) when another process writes it or another unfinished job
// owns it. It returns nil for outputs without a lock.
func lockOutput(ctx context.Context, out, state string) (*outlock.Lock, error) {
	path := outputLockPath(out)
	if path == "" {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, usagef("output %s: lock: %w", out, err)
	}
	l, err := outlock.Acquire(path, state, func(owner string) bool { return unfinishedJob(ctx, owner) })
	if errors.Is(err, outlock.ErrInUse) || errors.Is(err, outlock.ErrOwned) {
		return nil, usagef("output %s: %w", out, err)
	}
	if err != nil {
		return nil, usagef("output %s: %w", out, err)
	}
	return l, nil
}

// unfinishedJob reports whether state holds a started job that has not
// finished. A state that cannot be read counts as unfinished: the output
// stays with it until the user decides.
func unfinishedJob(ctx context.Context, state string) bool {
	if _, err := os.Stat(state); errors.Is(err, os.ErrNotExist) {
		return false
	}
	l, err := checkpoint.OpenReadOnly(ctx, state)
	if errors.Is(err, checkpoint.ErrNoJob) {
		return false
	}
	if err != nil {
		return true
	}
	defer l.Close()
	p, err := l.Progress(ctx)
	return err != nil || !p.Finished
}
