package checkpoint

import (
	"context"
	"github.com/contactbatch/batch/pipeline"
	"testing"
	"time"
)

// TestResetWaitsForPuts: PutResult racing Reset never writes an answer
// of the reset job into the next generation's log.
func TestResetWaitsForPuts(t *testing.T) {
	ctx := context.Background()
	for attempt := range 50 {
		dir := t.TempDir()
		l, err := open(ctx, dir, defaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Start(ctx, Job{Identity: "x"}); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		for g := range 8 {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: string(rune('a'+g)) + string(rune(i)), Status: "ok"})
				}
			}()
		}
		time.Sleep(5 * time.Millisecond)
		if err := l.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		close(stop)
		for range 8 {
			<-done
		}
		n := l.j.len()
		l.Close()
		l2, err := open(ctx, dir, defaultOptions())
		if n > 0 || err != nil {
			t.Fatalf("attempt %d: after Reset the log indexes %d records; reopen: %v", attempt, n, err)
		}
		l2.Close()
	}
}
