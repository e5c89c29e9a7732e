//go:build unix

package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// dirLock is a state directory's lock: an exclusive flock on the directory
// itself, which the ledger keeps open, and one on dir/LOCK. The directory's
// inode cannot be replaced while files in it are in use, so deleting LOCK
// (or any file) does not let a second process in: it still finds the
// directory locked. The kernel drops both locks when the process dies.
type dirLock struct {
	dir, file *os.File
}

// lockDir takes the lock of dir, whose lock file is path.
func lockDir(dir, path string) (*dirLock, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open state directory %s: %w", dir, err)
	}
	if err := flockNB(d, dir); err != nil {
		d.Close()
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("checkpoint: open lock %s: %w", path, err)
	}
	if err := flockNB(f, dir); err != nil {
		f.Close()
		d.Close()
		return nil, err
	}
	return &dirLock{dir: d, file: f}, nil
}

// flockNB takes an exclusive, non-blocking flock on f, which belongs to the
// state directory dir.
func flockNB(f *os.File, dir string) error {
	var err error
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("%w: state directory %s is in use by another batch process; wait for it to finish or stop it, then run again (or use another --state)", ErrLocked, dir)
	}
	return fmt.Errorf("checkpoint: lock %s: %w", f.Name(), err)
}

// Close releases both locks.
func (l *dirLock) Close() error {
	return errors.Join(l.file.Close(), l.dir.Close())
}
