package main

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/customeros/pace"
	"github.com/contactbatch/batch/internal/shard"
)

// TestPaceMemory: the paces a run learned come back in the next run
// against the same API, key and shard count, never under another, never
// once stale or unreadable; the key is in neither the path nor the file.
func TestPaceMemory(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const key = "sk-secret-key-1234"
	path := paceMemoryPath("http://127.0.0.1:8080/", key, shard.Spec{})
	if path == "" || strings.Contains(path, key) {
		t.Fatalf("path %q", path)
	}
	if other := paceMemoryPath("http://127.0.0.1:8080", "another key", shard.Spec{}); other == path {
		t.Errorf("another key shares the memory")
	}
	if other := paceMemoryPath("http://127.0.0.1:8080", key, shard.Spec{Index: 0, Count: 3}); other == path {
		t.Errorf("a shard of three shares a single run's memory")
	}
	if same := paceMemoryPath("HTTP://127.0.0.1:8080", key, shard.Spec{}); same != path {
		t.Errorf("one base URL spelled two ways: two memories")
	}

	learned := pace.New(0)
	learned.Recall(map[string]pace.Pace{"verify": {Rate: 50, Limited: true}})
	// A pacer that sent nothing learned nothing: no file.
	rememberPace(learned, path, time.Now(), log)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("memory written for a run that sent nothing: %v", err)
	}

	now := time.Date(2026, 6, 1, 2, 0, 0, 0, time.UTC)
	write := func(saved time.Time, body string) {
		t.Helper()
		if body == "" {
			body = `{"saved":"` + saved.Format(time.RFC3339) + `","families":{"verify":{"rate":40,"limited":true},"person":{"rate":300}}}`
		}
		if err := os.MkdirAll(path[:strings.LastIndex(path, "/")], 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		saved  time.Time
		body   string
		verify float64
		person float64
	}{
		{"recent", now.Add(-time.Hour), "", 40 * 0.99, 8 * 300},
		{"stale", now.Add(-paceMemoryAge - time.Minute), "", pace.DefaultStartRate, pace.DefaultStartRate},
		{"from the future", now.Add(time.Hour), "", pace.DefaultStartRate, pace.DefaultStartRate},
		{"unreadable", now, "{not json", pace.DefaultStartRate, pace.DefaultStartRate},
	} {
		write(tc.saved, tc.body)
		p := pace.New(0)
		recallPace(p, path, now, log)
		if got := p.Limit(customeros.EndpointVerify); got < tc.verify-1e-9 || got > tc.verify+1e-9 {
			t.Errorf("%s: verify starts at %.2f, want %.2f", tc.name, got, tc.verify)
		}
		if got := p.Limit(customeros.EndpointPerson); got != tc.person {
			t.Errorf("%s: person starts at %.2f, want %.2f", tc.name, got, tc.person)
		}
	}

	// Round trip through a run's pacer: what it learned comes back.
	write(now.Add(-time.Hour), "")
	p := pace.New(0)
	recallPace(p, path, now, log)
	for range 10 { // accepted answers: verify's recalled estimate is what it learned
		if err := p.Wait(t.Context(), customeros.EndpointVerify); err != nil {
			t.Fatal(err)
		}
		p.Observe(customeros.EndpointVerify, customeros.Outcome{Status: 200})
	}
	os.Remove(path)
	rememberPace(p, path, now, log)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), key) {
		t.Errorf("the key is in the memory file")
	}
	next := pace.New(0)
	recallPace(next, path, now.Add(time.Minute), log)
	if got := next.Limit(customeros.EndpointVerify); got >= 40 || got < 30 {
		t.Errorf("next run's verify pace %.2f, want just under the remembered 40", got)
	}
}
