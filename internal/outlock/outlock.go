//go:build unix

// Package outlock ties an output to the one job writing it, whatever that
// job's state directory, so that two jobs never publish into one file.
//
// An output's lock file (for a file output, the output path plus ".lock")
// is flock(2)ed for as long as a run writes the output, and records the
// state directory of the job that owns it until that job finishes. A second
// run is refused while the first holds the lock, and also afterwards while
// the owning job is unfinished (stopped or interrupted): resuming that job
// must find its partial output intact.
package outlock

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrInUse is returned by Acquire when another process is writing the
// output.
var ErrInUse = errors.New("output is being written by another batch process")

// ErrOwned is returned by Acquire when an unfinished job with another state
// directory owns the output.
var ErrOwned = errors.New("output belongs to another unfinished job")

// Lock is a held output lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock file at path for the job whose state directory is
// state. unfinished reports whether the job in another state directory
// (as recorded in the lock file) is still unfinished; when it is, the
// output stays that job's and Acquire returns ErrOwned.
func Acquire(path, state string, unfinished func(state string) bool) (*Lock, error) {
	abs, err := filepath.Abs(state)
	if err != nil {
		return nil, fmt.Errorf("outlock: %w", err)
	}
	for range 8 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("outlock: open %s: %w", path, err)
		}
		if err := flockNB(f); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w (lock file %s)", ErrInUse, path)
			}
			return nil, fmt.Errorf("outlock: lock %s: %w", path, err)
		}
		same, err := sameFile(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if !same { // a finishing owner removed the file after we opened it
			f.Close()
			continue
		}
		l := &Lock{f: f, path: path}
		if err := l.claim(abs, unfinished); err != nil {
			f.Close()
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("%w (lock file %s keeps being replaced)", ErrInUse, path)
}

// claim records state as the owner unless an unfinished other job owns
// the output.
func (l *Lock) claim(state string, unfinished func(string) bool) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(l.f); err != nil {
		return fmt.Errorf("outlock: read %s: %w", l.path, err)
	}
	owner := string(bytes.TrimSpace(buf.Bytes()))
	if owner != "" && owner != state && unfinished(owner) {
		return fmt.Errorf("%w (its state directory is %s): resume it with --state %s, or delete that directory to give the output up", ErrOwned, owner, owner)
	}
	if owner == state {
		return nil
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("outlock: write %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt([]byte(state+"\n"), 0); err != nil {
		return fmt.Errorf("outlock: write %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("outlock: sync %s: %w", l.path, err)
	}
	return nil
}

// Release unlocks. With finished set the job no longer owns the output and
// the lock file is removed; otherwise it stays, naming the job's state.
func (l *Lock) Release(finished bool) error {
	var err error
	if finished {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("outlock: remove %s: %w", l.path, rerr)
		}
	}
	return errors.Join(err, l.f.Close())
}

func flockNB(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// sameFile reports whether path still names the open file f.
func sameFile(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("outlock: stat %s: %w", path, err)
	}
	pi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("outlock: stat %s: %w", path, err)
	}
	return os.SameFile(fi, pi), nil
}
