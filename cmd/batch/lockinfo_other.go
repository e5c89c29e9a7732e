//go:build unix && !linux

package main

// lockHolder reports whether a process holds the flock on path.
func lockHolder(path string) (pid int, held bool, err error) { return probeLock(path) }
