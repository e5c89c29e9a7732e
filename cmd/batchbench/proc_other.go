//go:build unix && !linux

package main

import (
	"os"
	"runtime"
	"syscall"
)

// childAttr has no parent-death signal outside Linux; children are killed
// through the context instead.
func childAttr() *syscall.SysProcAttr { return nil }

// maxRSSKiB is the peak RSS of an exited process (macOS and the BSDs
// differ: Darwin reports bytes, the others KiB).
func maxRSSKiB(st *os.ProcessState) int64 {
	ru, ok := st.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) / 1024
	}
	return int64(ru.Maxrss)
}
