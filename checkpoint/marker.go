package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/contactbatch/batch/internal/fsync"
	"os"
	"time"
)

// markerVersion is the job.json format version.
const markerVersion = 1

// marker is the content of job.json: what the state directory must contain,
// independent of the database (a zero-length SQLite file opens as an empty
// database, so the database cannot vouch for itself).
type marker struct {
	Version     int       `json:"version"`
	LedgerID    string    `json:"ledger_id"`
	Identity    string    `json:"identity"`
	Fingerprint string    `json:"fingerprint"`
	Secret      string    `json:"secret"` // hex HMAC key for result keys
	CreatedAt   time.Time `json:"created_at"`
	Check       string    `json:"check"` // hex sha256 of the JSON with Check empty
}

func (m marker) sum() string {
	m.Check = ""
	b, _ := json.Marshal(m)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readMarker returns nil, nil when path does not exist and ErrCorrupt when it
// exists but cannot be trusted.
func readMarker(path string) (*marker, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", path, err)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s is unreadable: %v", ErrCorrupt, path, err)
	}
	if m.Check == "" || m.Check != m.sum() {
		return nil, fmt.Errorf("%w: %s fails its checksum", ErrCorrupt, path)
	}
	if m.Version != markerVersion {
		return nil, fmt.Errorf("%w: %s has unknown version %d", ErrCorrupt, path, m.Version)
	}
	if _, err := hex.DecodeString(m.Secret); err != nil || len(m.Secret) != 64 || m.LedgerID == "" {
		return nil, fmt.Errorf("%w: %s is incomplete", ErrCorrupt, path)
	}
	return &m, nil
}

// writeMarker writes job.json atomically and durably.
func writeMarker(path string, m marker) error {
	m.Version = markerVersion
	m.Check = m.sum()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", path, err)
	}
	return nil
}

// removeMarker deletes job.json durably.
func removeMarker(path string, dir string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint: remove %s: %w", path, err)
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
	}
	return nil
}
