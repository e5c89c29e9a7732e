package csvsource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/internal/defaults"
	"github.com/contactbatch/batch/internal/validutf8"
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

// ErrHeader is returned for a first line that cannot be a header.
var ErrHeader = errors.New("bad header")

// Options configure how CSV input is decoded.
type Options struct {
	// MapHeader maps the input header to contact fields. Required.
	MapHeader func(header []string) (contact.Mapping, error)
	// Origin names the input in rows and errors. Default: the path or URL.
	Origin string
	// Dialect is the input's delimiter, encoding and line ending; zero
	// fields are detected from the head of a fresh input (see Detect). A
	// resume must be given the resolved dialect of the first run
	// (Decoder.Dialect); Open and s3source detect it again from the
	// input's head when it is not.
	Dialect Dialect
	// MaxFieldBytes bounds one field. Default DefaultMaxFieldBytes.
	MaxFieldBytes int
	// MaxRecordBytes bounds one record. Default DefaultMaxRecordBytes.
	MaxRecordBytes int
	// MaxQuotedLines bounds the lines one quoted field may span. Default
	// DefaultMaxQuotedLines.
	MaxQuotedLines int
	// Stdin is read for the path "-". Default os.Stdin.
	Stdin io.Reader
}

// setDefaults fills the unset fields with their defaults (see
// internal/defaults).
func (o *Options) setDefaults() {
	o.MaxFieldBytes = defaults.Or(o.MaxFieldBytes, DefaultMaxFieldBytes)
	o.MaxRecordBytes = defaults.Or(o.MaxRecordBytes, DefaultMaxRecordBytes)
	o.MaxQuotedLines = defaults.Or(o.MaxQuotedLines, DefaultMaxQuotedLines)
}

// Resume says where to continue: the header stored at the first run and
// the byte offset (in the original input, before any transcoding) and
// line count of the first unread row (from the last committed Row.Cursor).
type Resume struct {
	Header []string
	Offset int64
	Line   int64
}

// Decoder turns a CSV byte stream into rows. It is not safe for concurrent
// use.
type Decoder struct {
	opts    Options
	dialect Dialect
	header  []string
	mapping contact.Mapping

	fr     *framer
	tc     *transcoder // nil for UTF-8 input
	closed bool        // no header: the stream is empty
}

// NewDecoder reads r. When at is nil, r starts at the beginning of the
// stream: the dialect's zero fields are detected from its head, a byte
// order mark is skipped and the header is read; else r starts at
// at.Offset, the header is at.Header and opts.Dialect must be resolved. An
// empty stream gives a Decoder with no header that returns io.EOF at once.
func NewDecoder(r io.Reader, opts Options, at *Resume) (*Decoder, error) {
	opts.setDefaults()
	if opts.MapHeader == nil {
		return nil, errors.New("csvsource: Options.MapHeader is required")
	}
	raw := bufio.NewReaderSize(r, bufferSize)
	d := &Decoder{opts: opts, dialect: opts.Dialect}
	var base int64
	if at != nil {
		if len(at.Header) == 0 {
			return nil, fmt.Errorf("csvsource: %s: resume without a stored header", opts.Origin)
		}
		if !d.dialect.Resolved() {
			return nil, fmt.Errorf("csvsource: %s: resume without the input's dialect", opts.Origin)
		}
		base = at.Offset
	} else {
		head, err := raw.Peek(min(SniffBytes, bufferSize/2))
		if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("csvsource: read %s: %w", opts.Origin, err)
		}
		if d.dialect, err = Detect(head, opts.Dialect); err != nil {
			return nil, fmt.Errorf("csvsource: %s: %w", opts.Origin, err)
		}
		if d.dialect.BOM {
			// A byte order mark given in the dialect but absent is not skipped.
			if b := bomFor(d.dialect.Encoding); bytes.HasPrefix(head, b) {
				_, _ = raw.Discard(len(b))
				base = int64(len(b))
			}
		}
	}
	enc, canon, err := lookupEncoding(d.dialect.Encoding)
	if err != nil {
		return nil, fmt.Errorf("csvsource: %s: %w", opts.Origin, err)
	}
	d.dialect.Encoding = canon
	d.fr = &framer{
		br: raw, delim: d.dialect.Delimiter, term: '\n',
		maxField: opts.MaxFieldBytes, maxRecord: opts.MaxRecordBytes, maxLines: opts.MaxQuotedLines,
		offset: base,
	}
	if d.dialect.LineEnd == CR {
		d.fr.term = '\r'
	}
	if enc != nil {
		d.tc = newTranscoder(raw, enc, canon, d.fr.term, base)
		d.fr.br = bufio.NewReaderSize(d.tc, bufferSize)
		d.fr.offset = 0 // decoded offsets: tc maps them to the input's
	}
	if at != nil {
		d.fr.line = at.Line
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
	d.fr.want = len(d.header)
	m, err := opts.MapHeader(d.header)
	if err != nil {
		return nil, fmt.Errorf("csvsource: %s: map header: %w", opts.Origin, err)
	}
	if err := d.setMapping(m); err != nil {
		return nil, err
	}
	return d, nil
}

// readHeader reads the header record; nil means an empty stream.
func (d *Decoder) readHeader() ([]string, error) {
	f, err := d.fr.next()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("csvsource: read %s header: %w", d.opts.Origin, err)
	}
	if f.bad != "" {
		return nil, fmt.Errorf("csvsource: %s: header line %d: %s: %w", d.opts.Origin, f.startLine, f.bad, ErrHeader)
	}
	if !utf8.Valid(d.fr.val) {
		return nil, fmt.Errorf("csvsource: %s: header line %d: invalid UTF-8 (name the input's encoding): %w", d.opts.Origin, f.startLine, ErrHeader)
	}
	hdr := d.values()
	for _, h := range hdr {
		if strings.ContainsAny(h, "\r\n") {
			return nil, fmt.Errorf("csvsource: %s: header line %d holds line breaks inside a column name, so it is more than one line of data (%.60q…): check the file's line endings and quotes: %w",
				d.opts.Origin, f.startLine, h, ErrHeader)
		}
	}
	return hdr, nil
}

// setMapping checks m and points each mapped column at its field.
func (d *Decoder) setMapping(m contact.Mapping) error {
	if len(m) != len(d.header) {
		return fmt.Errorf("csvsource: %s: mapping has %d columns, header has %d", d.opts.Origin, len(m), len(d.header))
	}
	d.mapping = append(contact.Mapping(nil), m...)
	seen := make(map[contact.Field]bool)
	var c contact.Contact
	for i, f := range m {
		if f == "" {
			continue
		}
		if c.Ptr(f) == nil {
			return fmt.Errorf("csvsource: %s: column %d maps to unknown field %q", d.opts.Origin, i+1, f)
		}
		if seen[f] {
			return fmt.Errorf("csvsource: %s: field %q mapped twice", d.opts.Origin, f)
		}
		seen[f] = true
	}
	return nil
}

// Header returns the input column names in input order (nil for an empty
// input).
func (d *Decoder) Header() []string { return d.header }

// Mapping returns the contact field of each column.
func (d *Decoder) Mapping() contact.Mapping { return d.mapping }

// Dialect returns the input's resolved dialect.
func (d *Decoder) Dialect() Dialect { return d.dialect }

// Offset returns the byte offset in the original input just after the
// last row returned or rejected.
func (d *Decoder) Offset() int64 {
	if d.tc == nil {
		return d.fr.offset
	}
	return d.tc.orig(d.fr.offset)
}

// Line returns the number of lines consumed up to Offset.
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
		return pipeline.Row{}, d.rowError(f, "NUL byte at line "+strconv.FormatInt(f.startLine+int64(bytes.Count(f.data[:i], []byte{d.fr.term})), 10))
	}
	if !utf8.Valid(d.fr.val) {
		return pipeline.Row{}, d.rowError(f, "invalid UTF-8 (the input is read as "+d.dialect.Encoding+")")
	}
	if n := len(d.fr.ends); n != len(d.header) {
		return pipeline.Row{}, d.rowError(f, fmt.Sprintf("wrong number of fields: %d, header has %d", n, len(d.header)))
	}
	values := d.values()
	var c contact.Contact
	for i, fld := range d.mapping {
		if fld != "" {
			*c.Ptr(fld) = values[i]
		}
	}
	return pipeline.Row{Values: values, Line: f.startLine, Origin: d.opts.Origin, Contact: c}, nil
}

// values returns the framed record's fields, sharing one string.
func (d *Decoder) values() []string {
	all := string(d.fr.val)
	vs := make([]string, len(d.fr.ends))
	start := 0
	for i, end := range d.fr.ends {
		vs[i] = all[start:end]
		start = end
	}
	return vs
}

// rowError builds the reject for frame f.
func (d *Decoder) rowError(f frame, reason string) *pipeline.RowError {
	raw := f.data
	if len(raw) > maxRawBytes {
		raw = raw[:maxRawBytes]
	}
	raw = bytes.TrimRight(raw, "\r\n")
	s := validutf8.Clean(string(raw), "\uFFFD")
	return &pipeline.RowError{Line: f.startLine, Origin: d.opts.Origin, Reason: reason, Raw: s}
}
