package csvsource

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gocarina/gocsv"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
)

// Size limits applied when Options leaves them zero.
const (
	// DefaultMaxFieldBytes bounds one field; a longer field (usually an
	// unbalanced quote) rejects its row.
	DefaultMaxFieldBytes = 1 << 20
	// DefaultMaxRecordBytes bounds one record, all lines included.
	DefaultMaxRecordBytes = 4 << 20
)

// bufferSize is the read buffer in front of every input.
const bufferSize = 256 << 10

// maxRawBytes caps RowError.Raw.
const maxRawBytes = 64 << 10

// ErrUnsupportedEncoding is returned for input that is not UTF-8 (a UTF-16
// byte order mark).
var ErrUnsupportedEncoding = errors.New("unsupported encoding: UTF-16 byte order mark (convert the input to UTF-8)")

// Options configure how CSV input is decoded.
type Options struct {
	// MapHeader maps the input header to contact fields. Required.
	MapHeader func(header []string) (contact.Mapping, error)
	// Origin names the input in rows and errors. Default: the path or URL.
	Origin string
	// MaxFieldBytes bounds one field. Default DefaultMaxFieldBytes.
	MaxFieldBytes int
	// MaxRecordBytes bounds one record. Default DefaultMaxRecordBytes.
	MaxRecordBytes int
	// Stdin is read for the path "-". Default os.Stdin.
	Stdin io.Reader
}

func (o *Options) setDefaults() {
	if o.MaxFieldBytes <= 0 {
		o.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
}

// Resume says where to continue: the header stored at the first run and
// the decoded byte offset and line count of the first unread row (from the
// last committed Row.Cursor).
type Resume struct {
	Header []string
	Offset int64
	Line   int64
}

// Decoder turns a CSV byte stream into rows. It is not safe for concurrent
// use.
type Decoder struct {
	opts    Options
	header  []string
	mapping contact.Mapping
	names   []string // column names handed to gocsv: canonical field or col_N

	fr     *framer
	feed   feeder
	canon  []byte // the canonical header line fed to every new csv.Reader
	cr     *csv.Reader
	um     *gocsv.Unmarshaller
	fed    int64 // bytes fed to cr
	closed bool  // no header: the stream is empty
}

// NewDecoder reads r. When at is nil, r starts at the beginning of the
// stream and the header is read from it (a UTF-8 byte order mark is
// skipped, a UTF-16 one is refused); else r starts at at.Offset and the
// header is at.Header. An empty stream gives a Decoder with no header that
// returns io.EOF at once.
func NewDecoder(r io.Reader, opts Options, at *Resume) (*Decoder, error) {
	opts.setDefaults()
	if opts.MapHeader == nil {
		return nil, errors.New("csvsource: Options.MapHeader is required")
	}
	d := &Decoder{
		opts: opts,
		fr: &framer{
			br:        bufio.NewReaderSize(r, bufferSize),
			maxField:  opts.MaxFieldBytes,
			maxRecord: opts.MaxRecordBytes,
		},
	}
	if at != nil {
		if len(at.Header) == 0 {
			return nil, fmt.Errorf("csvsource: %s: resume without a stored header", opts.Origin)
		}
		d.fr.offset, d.fr.line = at.Offset, at.Line
		d.header = append([]string(nil), at.Header...)
	} else {
		hdr, err := d.readHeader()
		if err != nil {
			return nil, err
		}
		if hdr == nil {
			d.closed = true
			return d, nil
		}
		d.header = hdr
	}
	m, err := opts.MapHeader(d.header)
	if err != nil {
		return nil, fmt.Errorf("csvsource: %s: map header: %w", opts.Origin, err)
	}
	if err := d.setMapping(m); err != nil {
		return nil, err
	}
	if err := d.newReader(); err != nil {
		return nil, err
	}
	return d, nil
}

// readHeader strips a byte order mark and reads the header record; nil
// means an empty stream.
func (d *Decoder) readHeader() ([]string, error) {
	br := d.fr.br
	b, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
		d.fr.offset = 3
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return nil, fmt.Errorf("csvsource: %s: %w", d.opts.Origin, ErrUnsupportedEncoding)
	}
	f, err := d.fr.next()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("csvsource: read %s header: %w", d.opts.Origin, err)
	}
	if f.bad != "" {
		return nil, fmt.Errorf("csvsource: %s: header line %d: %s", d.opts.Origin, f.startLine, f.bad)
	}
	if !utf8.Valid(f.data) {
		return nil, fmt.Errorf("csvsource: %s: header line %d: invalid UTF-8 (convert the input to UTF-8)", d.opts.Origin, f.startLine)
	}
	hr := csv.NewReader(bytes.NewReader(f.data))
	hdr, err := hr.Read()
	if err != nil {
		return nil, fmt.Errorf("csvsource: %s: header line %d: %w", d.opts.Origin, f.startLine, err)
	}
	return hdr, nil
}

// setMapping checks m and names the columns for gocsv.
func (d *Decoder) setMapping(m contact.Mapping) error {
	if len(m) != len(d.header) {
		return fmt.Errorf("csvsource: %s: mapping has %d columns, header has %d", d.opts.Origin, len(m), len(d.header))
	}
	d.mapping = append(contact.Mapping(nil), m...)
	d.names = make([]string, len(m))
	seen := make(map[contact.Field]bool)
	var c contact.Contact
	for i, f := range m {
		if f == "" {
			d.names[i] = "col_" + strconv.Itoa(i+1)
			continue
		}
		if fieldPtr(&c, f) == nil {
			return fmt.Errorf("csvsource: %s: column %d maps to unknown field %q", d.opts.Origin, i+1, f)
		}
		if seen[f] {
			return fmt.Errorf("csvsource: %s: field %q mapped twice", d.opts.Origin, f)
		}
		seen[f] = true
		d.names[i] = string(f)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(d.names)
	w.Flush()
	d.canon = buf.Bytes()
	return nil
}

// newReader starts a csv.Reader and its gocsv.Unmarshaller over the
// feeder, with the canonical header as first record.
func (d *Decoder) newReader() error {
	d.feed.b = d.canon
	d.fed = int64(len(d.canon))
	d.cr = csv.NewReader(&d.feed)
	d.cr.FieldsPerRecord = len(d.names)
	d.cr.ReuseRecord = true
	um, err := gocsv.NewUnmarshaller(d.cr, contact.Contact{})
	if err != nil {
		return fmt.Errorf("csvsource: %s: %w", d.opts.Origin, err)
	}
	d.um = um
	return nil
}

// Header returns the input column names in input order (nil for an empty
// input).
func (d *Decoder) Header() []string { return d.header }

// Mapping returns the contact field of each column.
func (d *Decoder) Mapping() contact.Mapping { return d.mapping }

// Offset returns the decoded byte offset just after the last row returned
// or rejected.
func (d *Decoder) Offset() int64 { return d.fr.offset }

// Line returns the number of physical lines consumed up to Offset.
func (d *Decoder) Line() int64 { return d.fr.line }

// Next returns the next row, io.EOF after the last one, or a
// *pipeline.RowError for a malformed row it skipped (call Next again).
// Row.Cursor and RowError.Cursor are left empty: callers fill them from
// Offset and Line. Any other error ends the stream.
func (d *Decoder) Next(ctx context.Context) (pipeline.Row, error) {
	if err := ctx.Err(); err != nil {
		return pipeline.Row{}, err
	}
	if d.closed {
		return pipeline.Row{}, io.EOF
	}
	f, err := d.fr.next()
	if err == io.EOF {
		return pipeline.Row{}, io.EOF
	}
	if err != nil {
		return pipeline.Row{}, fmt.Errorf("csvsource: read %s: %w", d.opts.Origin, err)
	}
	if f.bad != "" {
		return pipeline.Row{}, d.rowError(f, f.bad)
	}
	if i := bytes.IndexByte(f.data, 0); i >= 0 {
		return pipeline.Row{}, d.rowError(f, "NUL byte at line "+strconv.FormatInt(f.startLine+int64(bytes.Count(f.data[:i], []byte{'\n'})), 10))
	}
	if !utf8.Valid(f.data) {
		return pipeline.Row{}, d.rowError(f, "invalid UTF-8")
	}
	d.feed.b = f.data
	d.fed += int64(len(f.data))
	v, extra, err := d.um.ReadUnmatched()
	if d.cr.InputOffset() != d.fed {
		// encoding/csv and the framer disagree on the record's end: start
		// a fresh reader so that the next record parses from its start.
		if rerr := d.newReader(); rerr != nil {
			return pipeline.Row{}, rerr
		}
		if err == nil {
			err = errors.New("record boundary mismatch")
		}
	}
	if err != nil {
		return pipeline.Row{}, d.rowError(f, d.reason(f, err))
	}
	c, ok := v.(contact.Contact)
	if !ok {
		return pipeline.Row{}, d.rowError(f, "unexpected decoded type")
	}
	values := make([]string, len(d.names))
	for i, fld := range d.mapping {
		if fld == "" {
			values[i] = extra[d.names[i]]
		} else {
			values[i] = *fieldPtr(&c, fld)
		}
	}
	return pipeline.Row{Values: values, Line: f.startLine, Origin: d.opts.Origin, Contact: c}, nil
}

// reason describes a csv parse error with the physical line it sits on.
func (d *Decoder) reason(f frame, err error) string {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		return fmt.Sprintf("wrong number of fields: %d, header has %d", f.nfields, len(d.header))
	}
	line := f.startLine + int64(pe.Line-pe.StartLine)
	return fmt.Sprintf("line %d column %d: %v", line, pe.Column, pe.Err)
}

// rowError builds the reject for frame f.
func (d *Decoder) rowError(f frame, reason string) *pipeline.RowError {
	raw := f.data
	if len(raw) > maxRawBytes {
		raw = raw[:maxRawBytes]
	}
	raw = bytes.TrimRight(raw, "\r\n")
	s := strings.ToValidUTF8(string(raw), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	return &pipeline.RowError{Line: f.startLine, Origin: d.opts.Origin, Reason: reason, Raw: s}
}

// feeder hands the csv.Reader one framed record at a time.
type feeder struct{ b []byte }

func (f *feeder) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// fieldPtr returns c's field named f, or nil for an unknown name.
func fieldPtr(c *contact.Contact, f contact.Field) *string {
	switch f {
	case contact.FieldEmail:
		return &c.Email
	case contact.FieldFirstName:
		return &c.FirstName
	case contact.FieldLastName:
		return &c.LastName
	case contact.FieldFullName:
		return &c.FullName
	case contact.FieldTitle:
		return &c.Title
	case contact.FieldCompany:
		return &c.Company
	case contact.FieldWebsite:
		return &c.Website
	case contact.FieldDomain:
		return &c.Domain
	case contact.FieldLinkedInURL:
		return &c.LinkedInURL
	case contact.FieldCompanyLinkedInURL:
		return &c.CompanyLinkedInURL
	case contact.FieldPhone:
		return &c.Phone
	}
	return nil
}
