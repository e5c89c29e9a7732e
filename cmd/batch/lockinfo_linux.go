package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockHolder reports whether a process holds the flock on path, and its
// PID, from /proc/locks: reading it takes no lock, so a run starting at
// the same moment is never turned away.
func lockHolder(path string) (pid int, held bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false, fmt.Errorf("lock %s: no inode", path)
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return probeLock(path)
	}
	defer f.Close()
	// "1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF"
	want := ":" + strconv.FormatUint(st.Ino, 10)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || !strings.HasSuffix(fields[5], want) {
			continue
		}
		dev := strings.TrimSuffix(fields[5], want)
		if dev != fmt.Sprintf("%02x:%02x", major(st.Dev), minor(st.Dev)) {
			continue
		}
		pid, _ := strconv.Atoi(fields[4])
		return pid, true, nil
	}
	return 0, false, sc.Err()
}

func major(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&^0xfff }
func minor(dev uint64) uint64 { return dev&0xff | (dev>>12)&^0xff }
