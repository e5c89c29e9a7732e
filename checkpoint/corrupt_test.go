package checkpoint_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/pipeline/counter"
	"github.com/google/go-cmp/cmp"
)

// corpus is the state a corruption case starts from.
type corpus struct {
	dir      string
	results  []pipeline.StoredResult
	pending  []pipeline.Pending
	progress pipeline.Progress
}

func buildCorpus(t *testing.T) corpus {
	t.Helper()
	ctx := context.Background()
	c := corpus{dir: t.TempDir()}
	// 1000 of the 1500 results are moved into the database, 500 stay in
	// the results log.
	l, err := checkpoint.OpenRotateAt(ctx, c.dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx, testJob()); err != nil {
		t.Fatal(err)
	}
	for i := range 1500 {
		data := fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("x", i%7*150)) // some rows overflow a page
		r := pipeline.StoredResult{Kind: []pipeline.Kind{"verify", "person", "organization"}[i%3], Key: fmt.Sprintf("user%d@example.com", i), Status: "ok", Verdict: "deliverable", Data: json.RawMessage(data)}
		if err := l.PutResult(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, _ := l.Result(ctx, r.Kind, r.Key)
		c.results = append(c.results, *got)
	}
	for i := range 5 {
		p := pipeline.Pending{Kind: "person", Handle: fmt.Sprintf("https://api/r/%d", i), Keys: []string{fmt.Sprintf("k%d", i)}}
		if err := l.PutPending(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	c.pending, _ = l.Pending(ctx)
	c.progress = pipeline.Progress{Seq: 1500, Cursor: "off=99999", SinkPos: "123", Counters: map[counter.Name]int64{"ok": 1500}}
	if err := l.Commit(ctx, c.progress); err != nil {
		t.Fatal(err)
	}
	c.progress, _ = l.Progress(ctx)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "ledger.db-wal")); err == nil {
		t.Fatal("WAL left after Close; the cases below assume a checkpointed database")
	}
	db, err := openRaw(filepath.Join(c.dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM result`).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("result table holds %d rows (%v), want 1000 moved from the results log", n, err)
	}
	return c
}

// copyTo copies the corpus's state directory into a new one.
func (c corpus) copyTo(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, n := range []string{"ledger.db", "job.json", "results.log"} {
		b, err := os.ReadFile(filepath.Join(c.dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// check is the oracle: opening dir either fails with ErrCorrupt, or every
// read returns exactly the original data or ErrCorrupt. It never looks like
// a fresh job and never returns wrong or missing data. It reports whether
// the damage was detected.
func (c corpus) check(t *testing.T, dir string) (detected bool) {
	t.Helper()
	ctx := context.Background()
	l, err := checkpoint.Open(ctx, dir)
	if err != nil {
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("Open() = %v, want ErrCorrupt or success", err)
		}
		return true
	}
	defer l.Close()
	ok := func(what string, err error) bool {
		if err == nil {
			return true
		}
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("%s = %v, want ErrCorrupt or the original", what, err)
		}
		detected = true
		return false
	}
	if j, err := l.Job(ctx); ok("Job()", err) && !cmp.Equal(testJob(), *j) {
		t.Fatalf("Job() = %+v, want the original", j)
	}
	if p, err := l.Progress(ctx); ok("Progress()", err) && !cmp.Equal(c.progress, p) {
		t.Fatalf("Progress() = %+v, want %+v", p, c.progress)
	}
	if p, err := l.Pending(ctx); ok("Pending()", err) && !cmp.Equal(c.pending, p) {
		t.Fatalf("Pending() = %+v, want the original", p)
	}
	for _, want := range c.results {
		got, err := l.Result(ctx, want.Kind, want.Key)
		if ok("Result()", err) && !sameResult(want, got) {
			t.Fatalf("Result(%s, %s) = %+v, want %+v", want.Kind, want.Key, got, want)
		}
	}
	return detected
}

func TestCorruptionDetectedAtOpen(t *testing.T) {
	c := buildCorpus(t)
	db := func(dir string) string { return filepath.Join(dir, "ledger.db") }
	marker := func(dir string) string { return filepath.Join(dir, "job.json") }
	rlog := func(dir string) string { return filepath.Join(dir, "results.log") }
	other := buildCorpus(t)
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"db deleted, marker kept", func(t *testing.T, dir string) { os.Remove(db(dir)) }},
		{"db truncated to 0", func(t *testing.T, dir string) { os.Truncate(db(dir), 0) }},
		{"db truncated to 100", func(t *testing.T, dir string) { os.Truncate(db(dir), 100) }},
		{"db truncated to 1 page", func(t *testing.T, dir string) { os.Truncate(db(dir), 4096) }},
		{"db header zeroed", func(t *testing.T, dir string) { writeAt(t, db(dir), 0, make([]byte, 100)) }},
		{"db replaced by another ledger", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(db(other.dir))
			os.WriteFile(db(dir), b, 0o600)
		}},
		{"marker deleted", func(t *testing.T, dir string) { os.Remove(marker(dir)) }},
		{"results log deleted", func(t *testing.T, dir string) { os.Remove(rlog(dir)) }},
		{"results log emptied", func(t *testing.T, dir string) { os.Truncate(rlog(dir), 0) }},
		{"results log header zeroed", func(t *testing.T, dir string) { writeAt(t, rlog(dir), 0, make([]byte, 20)) }},
		{"results log cut short", func(t *testing.T, dir string) {
			fi, _ := os.Stat(rlog(dir))
			os.Truncate(rlog(dir), fi.Size()-1)
		}},
		{"results log from another ledger", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(rlog(other.dir))
			os.WriteFile(rlog(dir), b, 0o600)
		}},
		{"marker truncated", func(t *testing.T, dir string) { os.Truncate(marker(dir), 20) }},
		{"marker emptied", func(t *testing.T, dir string) { os.Truncate(marker(dir), 0) }},
		{"marker edited", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(marker(dir))
			os.WriteFile(marker(dir), []byte(strings.Replace(string(b), "id-1", "id-2", 1)), 0o600)
		}},
		{"marker from another ledger", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(marker(other.dir))
			os.WriteFile(marker(dir), b, 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := c.copyTo(t)
			tt.damage(t, dir)
			_, err := checkpoint.Open(context.Background(), dir)
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("Open() = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestCorruptionNeverSilent(t *testing.T) {
	c := buildCorpus(t)
	for _, name := range []string{"ledger.db", "results.log"} {
		t.Run(name, func(t *testing.T) { c.damageFile(t, name) })
	}
}

// damageFile truncates and bit-flips one file of the corpus's state
// directory and checks the oracle each time.
func (c corpus) damageFile(t *testing.T, name string) {
	fi, err := os.Stat(filepath.Join(c.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	t.Run("truncate", func(t *testing.T) {
		for _, n := range []int64{512, 4096 + 1, 8192, size / 4, size / 2, size - 4096, size - 1} {
			dir := c.copyTo(t)
			os.Truncate(filepath.Join(dir, name), n)
			if !c.check(t, dir) {
				t.Errorf("truncation to %d of %d bytes went undetected", n, size)
			}
		}
	})
	flips := 50
	if n, err := strconv.Atoi(os.Getenv("CHECKPOINT_FLIPS")); err == nil {
		flips = n // e.g. 1000 nightly (RELIABILITY R7)
	} else if testing.Short() {
		flips = 10
	}
	rng := rand.New(rand.NewPCG(1, 2))
	detected := 0
	t.Run("flip", func(t *testing.T) {
		for i := range flips {
			dir := c.copyTo(t)
			off := rng.Int64N(size)
			if i < 10 {
				off = rng.Int64N(100) // the header
			}
			b := []byte{0}
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.ReadAt(b, off)
			b[0] ^= 1 << rng.IntN(8)
			f.WriteAt(b, off)
			f.Close()
			st := time.Now()
			if c.check(t, dir) {
				detected++
			}
			if d := time.Since(st); d > 100*time.Millisecond {
				t.Logf("flip at %d: %v", off, d)
			}
		}
	})
	t.Logf("%s: %d of %d single-bit flips detected; for the others every record read back intact", name, detected, flips)
}

// sameResult is cmp.Equal for results, fast enough for thousands of calls.
func sameResult(a pipeline.StoredResult, b *pipeline.StoredResult) bool {
	return b != nil && a.Kind == b.Kind && a.Key == b.Key && a.Status == b.Status && a.Verdict == b.Verdict &&
		bytes.Equal(a.Data, b.Data) && a.FetchedAt.Equal(b.FetchedAt)
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestCrashWindows covers the two states a crash can leave between the
// database and job.json: both must open as a fresh state directory.
func TestCrashWindows(t *testing.T) {
	ctx := context.Background()
	t.Run("inside Start", func(t *testing.T) {
		dir := t.TempDir()
		l := startedLedger(t, dir)
		l.Close()
		os.Remove(filepath.Join(dir, "job.json")) // the job row committed, the marker never made it
		l = openLedger(t, dir)
		if _, err := l.Job(ctx); !errors.Is(err, checkpoint.ErrNoJob) {
			t.Fatalf("Job() = %v, want ErrNoJob", err)
		}
		if err := l.Start(ctx, testJob()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("inside Reset", func(t *testing.T) {
		dir := t.TempDir()
		l := startedLedger(t, dir)
		l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: "k", Status: "ok"})
		l.Commit(ctx, pipeline.Progress{Seq: 1})
		m, _ := os.ReadFile(filepath.Join(dir, "job.json"))
		if err := l.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		l.Close()
		os.WriteFile(filepath.Join(dir, "job.json"), m, 0o600) // the marker removal never made it
		l = openLedger(t, dir)
		if _, err := l.Job(ctx); !errors.Is(err, checkpoint.ErrNoJob) {
			t.Fatalf("Job() = %v, want ErrNoJob", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "job.json")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stale job.json kept: %v", err)
		}
	})
}
