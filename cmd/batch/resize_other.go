//go:build !unix

package main

import "os"

// notifyResize does nothing where there is no SIGWINCH; the line is laid
// out for the current width at every redraw anyway.
func notifyResize(chan<- os.Signal) {}
