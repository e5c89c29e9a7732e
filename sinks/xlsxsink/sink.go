// Package xlsxsink writes a run's output as an Excel workbook (.xlsx): the
// input columns then the result columns, a frozen header row with filter
// buttons, and the email verdict cell coloured by verdict.
//
// Rows are staged through sinks/filesink (a CSV file with its commit,
// truncate-and-continue and publish rules), so a crashed run resumes at
// its last commit and holds every row exactly once. Close builds the
// workbook from the staged file with excelize's StreamWriter (memory
// stays flat) into a temporary file beside the output, fsyncs it and
// renames it over the output: a reader never sees a partial workbook. The
// staged file is kept (it lives in the job's state directory), so a crash
// after the rename and before the job is marked finished rebuilds the same
// workbook on the next run.
package xlsxsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/xuri/excelize/v2"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
	"github.com/contactbatch/batch/sources/csvsource"
)

// SheetName is the name of the results sheet; rows past Excel's limit go
// on to "Results (2)", "Results (3)", ….
const SheetName = "Results"

// maxSheetRows is Excel's row limit, header included.
const maxSheetRows = 1 << 20

// VerdictColumn is the result column whose cells are coloured.
const VerdictColumn = "email_verdict"

var _ pipeline.Sink = (*Sink)(nil)

// Options configures an output workbook.
type Options struct {
	// Schema names the input and result columns of every output.
	Schema pipeline.Schema
	// Sync fsyncs the staged rows on Commit and the workbook and its
	// directory on Close.
	Sync bool
	// Mode is the permission of the workbook (before umask); 0 means
	// filesink.DefaultMode.
	Mode os.FileMode
}

// Sink stages rows and publishes them as a workbook on Close. Write,
// Commit, Close and Release are called from one goroutine.
type Sink struct {
	path    string
	staging string
	opts    Options
	stage   *filesink.Sink
	closed  bool
}

// Open opens the workbook output at path, staging rows in stagingPath
// (use a path inside the job's state directory) at pos, a position
// returned by an earlier Commit ("" starts fresh); see filesink.Open for
// the staging rules.
func Open(path, stagingPath string, opts Options, pos pipeline.Position) (*Sink, error) {
	fo := filesink.DefaultOptions()
	fo.Schema = opts.Schema
	fo.EscapeFormulas = false // cells are written as text, never as formulas
	fo.Sync = opts.Sync
	fo.Mode = 0o600
	st, err := filesink.Open(stagingPath, fo, pos)
	if err != nil {
		return nil, fmt.Errorf("xlsxsink: %s: %w", path, err)
	}
	return &Sink{path: path, staging: stagingPath, opts: opts, stage: st}, nil
}

// Write stages one output row.
func (s *Sink) Write(ctx context.Context, out *pipeline.Output) error {
	return s.stage.Write(ctx, out)
}

// Commit makes the staged rows durable and returns the position to resume
// from.
func (s *Sink) Commit(ctx context.Context) (pipeline.Position, error) {
	return s.stage.Commit(ctx)
}

// Release closes the staged rows without publishing (a stopped run).
func (s *Sink) Release() error { return s.stage.Release() }

// Rows returns the number of rows written since Open.
func (s *Sink) Rows() int64 { return s.stage.Rows() }

// Close commits the staged rows and publishes the workbook. A second call
// returns nil.
func (s *Sink) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	if err := s.stage.Close(ctx); err != nil {
		return fmt.Errorf("xlsxsink: %s: %w", s.path, err)
	}
	if err := s.publish(ctx); err != nil {
		return fmt.Errorf("xlsxsink: %s: %w", s.path, err)
	}
	s.closed = true
	return nil
}

// publish builds the workbook from the staged file and renames it over
// the output.
func (s *Sink) publish(ctx context.Context) error {
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".*.tmp")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after the rename: nothing
	if err := s.build(ctx, tmp); err != nil {
		tmp.Close()
		return err
	}
	if s.opts.Sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	mode := s.opts.Mode
	if mode == 0 {
		mode = filesink.DefaultMode
	}
	if err := os.Chmod(tmpName, mode); err != nil {
		return err
	}
	if err := os.Rename(tmpName, s.path); err != nil {
		return err
	}
	if !s.opts.Sync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// build writes the workbook of the staged rows to w.
func (s *Sink) build(ctx context.Context, w io.Writer) error {
	in, err := os.Open(s.staging)
	if err != nil {
		return err
	}
	defer in.Close()
	dec, err := csvsource.NewDecoder(in, csvsource.Options{
		Origin:    s.staging,
		Dialect:   csvsource.Dialect{Delimiter: ',', Encoding: csvsource.UTF8, LineEnd: csvsource.LF},
		MapHeader: func(h []string) (contact.Mapping, error) { return make(contact.Mapping, len(h)), nil },
	}, nil)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	b, err := newBook(f, s.opts.Schema)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := dec.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read staged rows: %w", err)
		}
		if err := b.add(row.Values); err != nil {
			return err
		}
	}
	if err := b.flush(); err != nil {
		return err
	}
	if err := f.DeleteSheet("Sheet1"); err != nil {
		return err
	}
	return f.Write(w)
}

// book writes rows into sheets of at most maxSheetRows rows.
type book struct {
	f       *excelize.File
	header  []any
	types   []pipeline.ColumnType // per column; "" for input columns
	verdict int                   // column of VerdictColumn, -1 if none
	styles  map[string]int        // verdict → cell style
	sw      *excelize.StreamWriter
	sheets  int
	row     int // rows written to the current sheet, header included
	cells   []any
}

func newBook(f *excelize.File, schema pipeline.Schema) (*book, error) {
	b := &book{f: f, verdict: -1, styles: map[string]int{}}
	for _, h := range schema.Input {
		b.header = append(b.header, h)
		b.types = append(b.types, "")
	}
	for i, h := range schema.Result {
		if h == VerdictColumn {
			b.verdict = len(b.header)
		}
		b.header = append(b.header, h)
		t := pipeline.TypeText
		if i < len(schema.Types) {
			t = schema.Types[i]
		}
		b.types = append(b.types, t)
	}
	fills := map[string]string{
		"deliverable": "C6EFCE", "undeliverable": "FFC7CE", "invalid": "FFC7CE",
		"risky": "FFEB9C", "catch_all": "FFEB9C", "unknown": "EDEDED",
	}
	for v, color := range fills {
		id, err := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{color}}})
		if err != nil {
			return nil, err
		}
		b.styles[v] = id
	}
	return b, b.newSheet()
}

// newSheet ends the current sheet and starts the next with the header
// row, frozen and filtered.
func (b *book) newSheet() error {
	if err := b.flush(); err != nil {
		return err
	}
	b.sheets++
	name := SheetName
	if b.sheets > 1 {
		name = SheetName + " (" + strconv.Itoa(b.sheets) + ")"
	}
	idx, err := b.f.NewSheet(name)
	if err != nil {
		return err
	}
	if b.sheets == 1 {
		b.f.SetActiveSheet(idx)
	}
	last, err := excelize.CoordinatesToCellName(max(len(b.header), 1), 1)
	if err != nil {
		return err
	}
	// The filter goes in before the stream writer takes the sheet over.
	if err := b.f.AutoFilter(name, "A1:"+last, nil); err != nil {
		return err
	}
	if b.sw, err = b.f.NewStreamWriter(name); err != nil {
		return err
	}
	if err := b.sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	b.row = 1
	return b.sw.SetRow("A1", b.header)
}

// add writes one row: input values as text, int and bool result columns
// as numbers and booleans, the verdict cell coloured.
func (b *book) add(values []string) error {
	if b.row >= maxSheetRows {
		if err := b.newSheet(); err != nil {
			return err
		}
	}
	b.row++
	b.cells = b.cells[:0]
	for i, v := range values {
		var c any = v
		if i < len(b.types) && v != "" {
			switch b.types[i] {
			case pipeline.TypeInt:
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					c = n
				}
			case pipeline.TypeBool:
				if t, err := strconv.ParseBool(v); err == nil {
					c = t
				}
			}
		}
		if i == b.verdict {
			if id, ok := b.styles[v]; ok {
				c = excelize.Cell{StyleID: id, Value: v}
			}
		}
		b.cells = append(b.cells, c)
	}
	cell, err := excelize.CoordinatesToCellName(1, b.row)
	if err != nil {
		return err
	}
	return b.sw.SetRow(cell, b.cells)
}

func (b *book) flush() error {
	if b.sw == nil {
		return nil
	}
	err := b.sw.Flush()
	b.sw = nil
	if err != nil {
		return errors.Join(errors.New("write sheet"), err)
	}
	return nil
}
