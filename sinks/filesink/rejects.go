package filesink

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/contactbatch/batch/pipeline"
)

// RejectsMode is the permission of a new rejects file (before umask):
// owner-only, because rejected rows hold raw input data.
const RejectsMode os.FileMode = 0o600

// RejectsHeader are the columns of a rejects file.
func RejectsHeader() []string { return []string{"line", "origin", "reason", "raw"} }

// Rejects writes rejected rows to a CSV file with the columns
// line,origin,reason,raw, under the same partial-file, position and commit
// rules as Sink. Cells are formula-escaped, Commit fsyncs, and a new file
// gets RejectsMode. WriteReject, Commit, Close and Release are called from
// one goroutine; Rows is safe from any.
type Rejects struct {
	out  *output
	csv  *csvEncoder
	line []string
	rows atomic.Int64
}

var _ pipeline.RejectSink = (*Rejects)(nil)

// OpenRejects opens the rejects file at path for writing at pos, with the
// rules of Open ("" starts fresh, "N" truncates and continues, "-" is
// stdout).
func OpenRejects(path string, pos pipeline.Position) (*Rejects, error) {
	header, err := csvHeader(RejectsHeader(), true, false, false)
	if err != nil {
		return nil, fmt.Errorf("filesink: open %s: %w", path, err)
	}
	r := &Rejects{line: make([]string, 4)}
	if path == "-" {
		r.out, err = openStream(os.Stdout, pos)
	} else {
		r.out, err = openFile(path, pos, RejectsMode, true, header, header)
	}
	if err != nil {
		return nil, err
	}
	r.csv = newCSVEncoder(r.out.bw, true, false)
	if r.out.fresh {
		if _, err := r.out.bw.Write(header); err != nil {
			r.out.release()
			return nil, fmt.Errorf("filesink: write %s: %w", r.out.name(), err)
		}
	}
	return r, nil
}

// WriteReject buffers one rejected row.
func (r *Rejects) WriteReject(ctx context.Context, rej *pipeline.Reject) error {
	if r.out.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.line[0] = strconv.FormatInt(rej.Line, 10)
	r.line[1], r.line[2], r.line[3] = rej.Origin, rej.Reason, rej.Raw
	if err := r.csv.write(r.line); err != nil {
		return fmt.Errorf("filesink: write %s: %w", r.out.name(), err)
	}
	r.rows.Add(1)
	return nil
}

// Commit flushes and fsyncs the partial rejects file and returns its length
// as the position to resume from.
func (r *Rejects) Commit(ctx context.Context) (pipeline.Position, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return r.out.commit()
}

// Close commits and publishes the rejects file (rename, directory fsync).
// A second call returns nil.
func (r *Rejects) Close(ctx context.Context) error {
	return r.out.close()
}

// Release closes the partial rejects file without publishing it, leaving
// it for a resume. Release after Close is a no-op.
func (r *Rejects) Release() error {
	return r.out.release()
}

// Rows returns the number of rejects written since Open, committed or not.
func (r *Rejects) Rows() int64 {
	return r.rows.Load()
}
