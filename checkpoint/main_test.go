package checkpoint_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
)

// helperEnv selects a helper mode when the test binary is re-executed as a
// subprocess: "hold" opens the ledger in helperDirEnv and waits; "putloop"
// also stores results from 8 goroutines and prints "ack <key>" after each
// acknowledged PutResult, until killed.
const (
	helperEnv    = "CHECKPOINT_TEST_HELPER"
	helperDirEnv = "CHECKPOINT_TEST_DIR"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Getenv(helperDirEnv)))
	}
	os.Exit(m.Run())
}

func helper(mode, dir string) int {
	ctx := context.Background()
	l, err := checkpoint.Open(ctx, dir)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	switch mode {
	case "hold":
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin or kills us
	case "putloop":
		if err := l.Start(ctx, checkpoint.Job{Identity: "crash"}); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("ready")
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					key := fmt.Sprintf("g%d-%d@example.com", g, i)
					if err := l.PutResult(ctx, pipeline.StoredResult{Kind: "verify", Key: key, Status: "ok", Verdict: "deliverable", Data: []byte(`{"n":` + fmt.Sprint(i) + `}`)}); err != nil {
						mu.Lock()
						fmt.Println("error", err)
						mu.Unlock()
						return
					}
					mu.Lock()
					fmt.Println("ack", key)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	l.Close()
	return 0
}

// startHelper runs the test binary in helper mode on dir and waits for its
// first line, which it returns with the process and its output.
func startHelper(t *testing.T, mode, dir string) (*exec.Cmd, *bufio.Scanner, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("helper %s: no output: %v", mode, sc.Err())
	}
	return cmd, sc, sc.Text()
}
