// Package xlsxsource reads contact rows from one sheet of an Excel workbook
// (.xlsx) with excelize's streaming row reader, so memory stays flat
// whatever the number of rows. Cells are read as Excel displays them
// (dates and numbers formatted, leading zeros kept). The header is the
// first row, among the first HeaderScanRows, that the header mapper
// accepts: title rows and blank rows above it are skipped. A row cursor is
// the sheet row number; a resume reads the sheet again and skips the rows
// up to it.
package xlsxsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/xuri/excelize/v2"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
)

// HeaderScanRows is how many rows at the top of the sheet may hold the
// header.
const HeaderScanRows = 20

// ErrNoSheet is returned when the sheet asked for does not exist or the
// workbook has no visible sheet.
var ErrNoSheet = errors.New("no such sheet")

// ErrNoHeader is returned when none of the first HeaderScanRows rows is a
// header the mapper accepts.
var ErrNoHeader = errors.New("no header row")

var _ pipeline.Source = (*Source)(nil)

// Options configure how a workbook is read.
type Options struct {
	// MapHeader maps a candidate header row to contact fields; the first
	// row it accepts is the header. Required.
	MapHeader func(header []string) (contact.Mapping, error)
	// Origin names the input in rows and errors. Default: the path.
	Origin string
	// Sheet is the sheet's name, or its 1-based position among all sheets.
	// Default: the first visible sheet.
	Sheet string
}

// Source reads the rows of one sheet.
type Source struct {
	f       *excelize.File
	rows    *excelize.Rows
	opts    Options
	sheet   string
	header  []string
	mapping contact.Mapping
	row     int // sheet row number of the last row read (1-based)
	ahead   []sheetRow
	done    atomic.Int64
	total   int64 // rows in the sheet's dimension, -1 when unknown
}

// Open opens the workbook at path. With an empty cur it finds the header;
// else it resumes after the sheet row in cur, with header the Header()
// stored at the first run.
func Open(ctx context.Context, path string, opts Options, cur string, header []string) (*Source, error) {
	if opts.MapHeader == nil {
		return nil, errors.New("xlsxsource: Options.MapHeader is required")
	}
	if opts.Origin == "" {
		opts.Origin = path
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("xlsxsource: open %s: %w", opts.Origin, err)
	}
	s := &Source{f: f, opts: opts, total: -1}
	if err := s.open(ctx, cur, header); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Source) open(ctx context.Context, cur string, header []string) error {
	sheet, err := pickSheet(s.f, s.opts.Sheet)
	if err != nil {
		return fmt.Errorf("xlsxsource: %s: %w", s.opts.Origin, err)
	}
	s.sheet = sheet
	if dim, err := s.f.GetSheetDimension(sheet); err == nil {
		if _, last, ok := strings.Cut(dim, ":"); ok {
			if _, r, err := excelize.CellNameToCoordinates(last); err == nil {
				s.total = int64(r)
			}
		}
	}
	if s.rows, err = s.f.Rows(sheet); err != nil {
		return fmt.Errorf("xlsxsource: %s: sheet %q: %w", s.opts.Origin, sheet, err)
	}
	if cur == "" {
		return s.findHeader(ctx)
	}
	at, err := ParseCursor(cur)
	if err != nil {
		return err
	}
	if len(header) == 0 {
		return fmt.Errorf("xlsxsource: %s: resume without a stored header", s.opts.Origin)
	}
	m, err := s.opts.MapHeader(header)
	if err != nil {
		return fmt.Errorf("xlsxsource: %s: map header: %w", s.opts.Origin, err)
	}
	s.header, s.mapping = header, m
	for s.row < at {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.rows.Next() {
			if err := s.rows.Error(); err != nil {
				return fmt.Errorf("xlsxsource: %s: %w", s.opts.Origin, err)
			}
			return fmt.Errorf("xlsxsource: %s: sheet %q ends at row %d, before the resume row %d (input changed?)", s.opts.Origin, sheet, s.row, at)
		}
		s.row++
	}
	s.done.Store(int64(s.row))
	return nil
}

// pickSheet returns the sheet named or numbered by want, or the first
// visible sheet.
func pickSheet(f *excelize.File, want string) (string, error) {
	list := f.GetSheetList()
	if want == "" {
		for _, name := range list {
			if v, err := f.GetSheetVisible(name); err == nil && v {
				return name, nil
			}
		}
		return "", fmt.Errorf("the workbook has no visible sheet: %w", ErrNoSheet)
	}
	for _, name := range list {
		if name == want {
			return name, nil
		}
	}
	if n, err := strconv.Atoi(want); err == nil && n >= 1 && n <= len(list) {
		return list[n-1], nil
	}
	for _, name := range list {
		if strings.EqualFold(name, want) {
			return name, nil
		}
	}
	return "", fmt.Errorf("sheet %q (the workbook has %q): %w", want, list, ErrNoSheet)
}

// findHeader reads rows until one maps, within HeaderScanRows rows.
func (s *Source) findHeader(ctx context.Context) error {
	var firstErr error
	for s.row < HeaderScanRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.rows.Next() {
			break
		}
		s.row++
		cells, err := s.rows.Columns()
		if err != nil {
			return fmt.Errorf("xlsxsource: %s: row %d: %w", s.opts.Origin, s.row, err)
		}
		if nonEmpty(cells) < 1 {
			continue // blank row above the header
		}
		h := headerNames(cells)
		if _, err := s.opts.MapHeader(h); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("row %d: %w", s.row, err)
			}
			continue // a title row
		}
		return s.widen(ctx, h)
	}
	if err := s.rows.Error(); err != nil {
		return fmt.Errorf("xlsxsource: %s: %w", s.opts.Origin, err)
	}
	if firstErr == nil {
		return fmt.Errorf("xlsxsource: %s: sheet %q: no non-empty row in the first %d: %w", s.opts.Origin, s.sheet, HeaderScanRows, ErrNoHeader)
	}
	return fmt.Errorf("xlsxsource: %s: sheet %q: none of the first %d rows is a header (%w): %w", s.opts.Origin, s.sheet, HeaderScanRows, firstErr, ErrNoHeader)
}

// widen reads up to HeaderScanRows rows after header h and widens it to
// the widest of them, naming the added columns column_<letter> (a header
// cell merged over several columns, data under no header); those rows are
// returned by Next first.
func (s *Source) widen(ctx context.Context, h []string) error {
	width := len(h)
	for len(s.ahead) < HeaderScanRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.rows.Next() {
			if err := s.rows.Error(); err != nil {
				return fmt.Errorf("xlsxsource: %s: %w", s.opts.Origin, err)
			}
			break
		}
		s.row++
		cells, err := s.rows.Columns()
		if err != nil {
			return fmt.Errorf("xlsxsource: %s: row %d: %w", s.opts.Origin, s.row, err)
		}
		s.ahead = append(s.ahead, sheetRow{s.row, cells})
		if w := len(headerNames(cells)); w > width {
			width = w
		}
	}
	for i := len(h); i < width; i++ {
		col, _ := excelize.ColumnNumberToName(i + 1)
		h = append(h, "column_"+col)
	}
	m, err := s.opts.MapHeader(h)
	if err != nil {
		return fmt.Errorf("xlsxsource: %s: map header: %w", s.opts.Origin, err)
	}
	s.header, s.mapping = h, m
	return nil
}

// headerNames trims the header cells and drops empty trailing ones; an
// empty name inside (a merged header cell) becomes "column_<letter>".
func headerNames(cells []string) []string {
	n := len(cells)
	for n > 0 && strings.TrimSpace(cells[n-1]) == "" {
		n--
	}
	h := make([]string, n)
	for i := range h {
		h[i] = strings.TrimSpace(cells[i])
		if h[i] == "" {
			col, _ := excelize.ColumnNumberToName(i + 1)
			h[i] = "column_" + col
		}
	}
	return h
}

func nonEmpty(cells []string) int {
	n := 0
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			n++
		}
	}
	return n
}

// Header returns the header row's names.
func (s *Source) Header() []string { return s.header }

// Mapping returns the contact field of each column.
func (s *Source) Mapping() contact.Mapping { return s.mapping }

// Sheet returns the name of the sheet read.
func (s *Source) Sheet() string { return s.sheet }

// Next returns the next non-blank row (Line is its sheet row number),
// io.EOF after the last one, or a *pipeline.RowError for a row holding
// cells beyond the header's columns.
func (s *Source) Next(ctx context.Context) (pipeline.Row, error) {
	for {
		if err := ctx.Err(); err != nil {
			return pipeline.Row{}, err
		}
		n, cells, err := s.next()
		if err != nil {
			return pipeline.Row{}, err
		}
		if nonEmpty(cells) == 0 {
			continue
		}
		cur := FormatCursor(n)
		if extra := nonEmpty(cells[min(len(cells), len(s.header)):]); extra > 0 {
			return pipeline.Row{}, &pipeline.RowError{
				Line: int64(n), Origin: s.opts.Origin, Cursor: cur,
				Reason: fmt.Sprintf("%d cells beyond the header's %d columns", extra, len(s.header)),
				Raw:    strings.Join(cells, "\t"),
			}
		}
		values := make([]string, len(s.header))
		copy(values, cells)
		var c contact.Contact
		for i, f := range s.mapping {
			if p := c.Ptr(f); p != nil {
				*p = values[i]
			}
		}
		return pipeline.Row{Values: values, Line: int64(n), Origin: s.opts.Origin, Cursor: cur, Contact: c}, nil
	}
}

// next returns the next sheet row (read ahead, or from the sheet) and its
// number; io.EOF after the last.
func (s *Source) next() (int, []string, error) {
	if len(s.ahead) > 0 {
		r := s.ahead[0]
		s.ahead = s.ahead[1:]
		return r.n, r.cells, nil
	}
	if !s.rows.Next() {
		if err := s.rows.Error(); err != nil {
			return 0, nil, fmt.Errorf("xlsxsource: %s: %w", s.opts.Origin, err)
		}
		return 0, nil, io.EOF
	}
	s.row++
	s.done.Store(int64(s.row))
	cells, err := s.rows.Columns()
	if err != nil {
		return 0, nil, fmt.Errorf("xlsxsource: %s: row %d: %w", s.opts.Origin, s.row, err)
	}
	return s.row, cells, nil
}

// Progress reports the sheet rows read and the sheet's last row (-1 when
// the workbook does not say).
func (s *Source) Progress() (done, total int64) { return s.done.Load(), s.total }

// Close releases the workbook and its temporary files.
func (s *Source) Close() error {
	var errs []error
	if s.rows != nil {
		errs = append(errs, s.rows.Close())
	}
	errs = append(errs, s.f.Close())
	return errors.Join(errs...)
}

// sheetRow is a row read ahead of Next.
type sheetRow struct {
	n     int
	cells []string
}

// FormatCursor encodes a sheet row number as a Row.Cursor.
func FormatCursor(row int) string { return `{"r":` + strconv.Itoa(row) + `}` }

// ParseCursor decodes a cursor made by FormatCursor.
func ParseCursor(s string) (int, error) {
	r, ok := strings.CutPrefix(s, `{"r":`)
	r, ok2 := strings.CutSuffix(r, "}")
	n, err := strconv.Atoi(r)
	if !ok || !ok2 || err != nil || n < 0 {
		return 0, fmt.Errorf("xlsxsource: parse cursor %q: not a sheet row", s)
	}
	return n, nil
}
