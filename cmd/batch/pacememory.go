package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/contactbatch/batch/customeros/pace"
	"github.com/contactbatch/batch/internal/shard"
)

// paceMemoryAge is how long a remembered pace is trusted: a nightly job
// finds the last night's.
const paceMemoryAge = 72 * time.Hour

// paceMemory is the file that keeps, between runs, the paces learned
// against one API base URL with one key and shard count.
type paceMemory struct {
	Saved    time.Time            `json:"saved"`
	Families map[string]pace.Pace `json:"families"`
}

// paceMemoryPath is where the paces learned against apiURL with key (in
// shards processes) are kept: under the user cache directory, named by a
// hash of the base URL, the key's fingerprint (never the key) and the
// shard count. "" when there is no user cache directory.
func paceMemoryPath(apiURL, key string, s shard.Spec) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	h := sha256.Sum256([]byte("batch pace\x00" + canonicalBaseURL(apiURL) + "\x00" + keyFingerprint(key) + "\x00" + strconv.Itoa(max(1, s.Count))))
	return filepath.Join(dir, "batch", "pace", hex.EncodeToString(h[:12])+".json")
}

// recallPace starts p from the paces remembered at path, if they are
// recent. A missing, unreadable or stale file is no memory: the pace starts
// from its default.
func recallPace(p *pace.Pacer, path string, now time.Time, log *slog.Logger) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var m paceMemory
	if err := json.Unmarshal(b, &m); err != nil || now.Sub(m.Saved) > paceMemoryAge || m.Saved.After(now) {
		return
	}
	p.Recall(m.Families)
	log.Debug("pace recalled", "families", m.Families)
}

// rememberPace writes what p learned to path (atomically: a temporary file
// renamed over it), for the next run. It is best effort: a failure is
// logged and changes nothing else.
func rememberPace(p *pace.Pacer, path string, now time.Time, log *slog.Logger) {
	learned := p.Learned()
	if path == "" || len(learned) == 0 {
		return
	}
	err := func() error {
		b, err := json.Marshal(paceMemory{Saved: now.UTC(), Families: learned})
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		f, err := os.CreateTemp(filepath.Dir(path), ".pace-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name()) // after the rename, a no-op
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), path)
	}()
	if err != nil {
		log.Warn("remember the pace", "err", err)
	}
}
