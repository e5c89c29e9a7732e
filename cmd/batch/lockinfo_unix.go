//go:build unix

package main

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// probeLock tells whether another process holds the flock on path by
// trying a shared lock for an instant; it cannot tell the holder's PID.
func probeLock(path string) (pid int, held bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return 0, false, nil
}
