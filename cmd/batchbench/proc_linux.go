package main

import (
	"os"
	"syscall"
)

// childAttr makes the kernel kill a batch child when the bench dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// maxRSSKiB is the peak RSS of an exited process (Linux reports KiB).
func maxRSSKiB(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}
