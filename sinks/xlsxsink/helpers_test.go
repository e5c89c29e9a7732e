package xlsxsink_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/contactbatch/batch/pipeline"
)

func mkdir(dir string) error { return os.MkdirAll(dir, 0o755) }

// mustPos returns the position of the whole staged file (what the ledger
// held after the last commit).
func mustPos(t *testing.T, _ context.Context, _, staging string) pipeline.Position {
	t.Helper()
	st, err := os.Stat(staging)
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Position(strconv.FormatInt(st.Size(), 10))
}
