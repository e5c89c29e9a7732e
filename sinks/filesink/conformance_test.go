package filesink_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/contactbatch/batch/internal/sinktest"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
)

func suiteOptions(f filesink.Format) filesink.Options {
	o := filesink.DefaultOptions()
	o.Format, o.Schema = f, sinktest.Schema()
	return o
}

// csvEmails returns column col of every record after the header.
func csvEmails(t *testing.T, data []byte, col int) []string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	var out []string
	for _, r := range recs[min(1, len(recs)):] {
		out = append(out, r[col])
	}
	return out
}

func jsonlEmails(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	for l := range bytes.Lines(data) {
		var v struct{ Input map[string]string }
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, v.Input["email"])
	}
	return out
}

// readPublished reads the file at path, nil when there is none.
func readPublished(t *testing.T, path string, f filesink.Format) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if f == filesink.JSONL {
		return jsonlEmails(t, data)
	}
	return csvEmails(t, data, 0)
}

func TestConformance(t *testing.T) {
	for _, f := range []filesink.Format{filesink.CSV, filesink.JSONL} {
		t.Run(f.String(), func(t *testing.T) {
			sinktest.Run(t, func(t *testing.T) sinktest.Target {
				path := filepath.Join(t.TempDir(), "out")
				return sinktest.Target{
					Open: func(t *testing.T, pos pipeline.Position) sinktest.Sink {
						s, err := filesink.Open(path, suiteOptions(f), pos)
						if err != nil {
							t.Fatalf("Open(%q) = %v", pos, err)
						}
						return s
					},
					Read: func(t *testing.T) []string { return readPublished(t, path, f) },
				}
			})
		})
	}
	// A stream (stdout, or any writer) cannot take bytes back. Each open
	// starts a new stream (a CSV one with its own header) whose positions
	// continue from the one it resumed at; its reader keeps each stream up
	// to the position the next one resumed at.
	for _, f := range []filesink.Format{filesink.CSV, filesink.JSONL} {
		t.Run("stream/"+f.String(), func(t *testing.T) {
			sinktest.Run(t, func(t *testing.T) sinktest.Target {
				return streamTarget(f)
			})
		})
	}
	t.Run("rejects", func(t *testing.T) {
		sinktest.Run(t, func(t *testing.T) sinktest.Target {
			path := filepath.Join(t.TempDir(), "rejects.csv")
			return sinktest.Target{
				Open: func(t *testing.T, pos pipeline.Position) sinktest.Sink {
					r, err := filesink.OpenRejects(path, pos)
					if err != nil {
						t.Fatalf("OpenRejects(%q) = %v", pos, err)
					}
					return rejectSink{r}
				},
				Read: func(t *testing.T) []string {
					data, err := os.ReadFile(path)
					if errors.Is(err, os.ErrNotExist) {
						return nil
					}
					if err != nil {
						t.Fatal(err)
					}
					return csvEmails(t, data, 3) // the raw column
				},
			}
		})
	})
}

// rejectSink runs the reject file through the Sink suite: each output
// becomes a reject whose raw text is the output's email.
type rejectSink struct{ *filesink.Rejects }

func (r rejectSink) Write(ctx context.Context, out *pipeline.Output) error {
	return r.WriteReject(ctx, &pipeline.Reject{Seq: out.Seq, Line: out.Line, Origin: out.Origin, Reason: "ragged row", Raw: out.Email})
}

// stream is one OpenWriter stream: its bytes, and the position it opened at.
type stream struct {
	buf   bytes.Buffer
	start int
}

func streamTarget(f filesink.Format) sinktest.Target {
	var streams []*stream
	return sinktest.Target{
		Open: func(t *testing.T, pos pipeline.Position) sinktest.Sink {
			start := 0
			if pos != "" {
				var err error
				if start, err = strconv.Atoi(string(pos)); err != nil {
					t.Fatalf("position %q: %v", pos, err)
				}
			}
			for len(streams) > 0 && streams[len(streams)-1].start > start {
				streams = streams[:len(streams)-1] // replayed in full
			}
			if n := len(streams); n > 0 {
				last := streams[n-1]
				if start-last.start > last.buf.Len() {
					t.Fatalf("position %q beyond the bytes written", pos)
				}
				last.buf.Truncate(start - last.start)
			}
			st := &stream{start: start}
			streams = append(streams, st)
			s, err := filesink.OpenWriter(&st.buf, suiteOptions(f), pos)
			if err != nil {
				t.Fatalf("OpenWriter(%q) = %v", pos, err)
			}
			return s
		},
		Read: func(t *testing.T) []string {
			var out []string
			for _, st := range streams {
				if f == filesink.JSONL {
					out = append(out, jsonlEmails(t, st.buf.Bytes())...)
				} else {
					out = append(out, csvEmails(t, st.buf.Bytes(), 0)...)
				}
			}
			return out
		},
		Visibility: sinktest.AtWrite,
	}
}
