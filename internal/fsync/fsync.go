// Package fsync holds the one helper that makes a rename durable.
package fsync

import "os"

// Dir fsyncs a directory so that a file created or renamed in it survives
// a crash.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
