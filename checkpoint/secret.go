package checkpoint

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/contactbatch/batch/internal/fsync"
	"os"
	"path/filepath"
	"strings"
)

// loadSecret returns the 32-byte secret stored hex-encoded at path, creating
// it (0600, durably) on first use. Concurrent first uses by several processes
// agree on one secret: the file appears complete through link(2) or not at
// all.
func loadSecret(path string) ([]byte, error) {
	for range 2 {
		b, err := os.ReadFile(path)
		if err == nil {
			s, err := hex.DecodeString(strings.TrimSpace(string(b)))
			if err != nil || len(s) != 32 {
				return nil, fmt.Errorf("%w: cache secret %s is malformed", ErrCorrupt, path)
			}
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				if err := os.Chmod(path, 0o600); err != nil {
					return nil, fmt.Errorf("checkpoint: restrict cache secret %s: %w", path, err)
				}
			}
			return s, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint: read cache secret %s: %w", path, err)
		}
		if err := createSecret(path); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("checkpoint: cache secret %s vanished while being created", path)
}

func createSecret(path string) error {
	dir := filepath.Dir(path)
	s := make([]byte, 32)
	rand.Read(s)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint: create cache secret: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.WriteString(hex.EncodeToString(s) + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: write cache secret: %w", err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("checkpoint: create cache secret %s: %w", path, err)
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
	}
	return nil
}
