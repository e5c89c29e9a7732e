// Package s3source reads contact rows from CSV objects in S3-compatible
// storage: one object, or every object under a prefix in key order as one
// logical input. Objects are streamed (never held whole in memory or on
// disk), gzip is detected, and a row cursor resumes with a ranged GET.
package s3source

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"

	"github.com/contactbatch/batch/contact"
	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sources/csvsource"
)

const bufferSize = 256 << 10

var _ pipeline.Source = (*Source)(nil)

// Source reads CSV objects from an S3-compatible bucket.
type Source struct {
	bucket  *blob.Bucket
	bucketN string
	opts    csvsource.Options
	objects []object
	idx     int // objects[idx] is being read
	header  []string
	mapping contact.Mapping
	dialect csvsource.Dialect // the first object's

	obj    *objectReader
	zr     *gzip.Reader
	dec    *csvsource.Decoder
	gz     bool
	prefix []byte // cursor text up to the offset, for the current object
}

// cursor is a Row.Cursor: object key, its ETag, gzip or not, and the
// decoded offset and line just after the row.
type cursor struct {
	Key    string `json:"k"`
	ETag   string `json:"e"`
	Gzip   bool   `json:"z,omitempty"`
	Offset int64  `json:"o"`
	Line   int64  `json:"l"`
}

// Open reads s3://bucket/key, or s3://bucket/prefix/ (every object under
// the prefix, in key order, as one logical input; every object has its own
// header, which must match the first object's). URL query options are
// those of gocloud.dev/blob/s3blob (endpoint, use_path_style, region,
// profile, anonymous, …); credentials come from the standard AWS chain.
//
// With an empty cursor it reads from the start; else it resumes just after
// the row that produced cursor (header is the Header() stored at the first
// run): a plain object with a ranged GET at the cursor's offset, a gzip
// one by streaming it again and discarding the decoded bytes before the
// offset. An object changed or gone since the cursor gives ErrChanged.
func Open(ctx context.Context, rawURL string, opts csvsource.Options, cursor string, header []string) (*Source, error) {
	b, key, err := openBucket(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	s := &Source{bucket: b, opts: opts, bucketN: bucketName(rawURL)}
	if err := s.open(ctx, key, cursor, header); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Source) open(ctx context.Context, key, cur string, header []string) error {
	objs, err := listObjects(ctx, s.bucket, key)
	if err != nil {
		return err
	}
	s.objects = objs
	if cur == "" {
		// The input's header is the first non-empty object's.
		for i := 0; i < len(objs) && s.header == nil; i++ {
			if err := s.start(ctx, i, nil, false); err != nil {
				return err
			}
		}
		return nil
	}
	var c cursor
	if err := json.Unmarshal([]byte(cur), &c); err != nil {
		return fmt.Errorf("s3source: parse cursor: %w", err)
	}
	if len(header) == 0 {
		return errors.New("s3source: resume without a stored header")
	}
	i := slices.IndexFunc(objs, func(o object) bool { return o.key == c.Key })
	if i < 0 {
		return fmt.Errorf("s3source: %s: object of the cursor is gone: %w", c.Key, ErrChanged)
	}
	if !sameETag(objs[i].etag, c.ETag) {
		return fmt.Errorf("s3source: %s: ETag %s, cursor has %s: %w", c.Key, objs[i].etag, c.ETag, ErrChanged)
	}
	if !s.opts.Dialect.Resolved() {
		if s.opts.Dialect, err = detect(ctx, s.bucket, objs, s.opts.Dialect); err != nil {
			return err
		}
	}
	s.header, s.dialect = header, s.opts.Dialect
	m, err := s.opts.MapHeader(header)
	if err != nil {
		return fmt.Errorf("s3source: map header: %w", err)
	}
	s.mapping = m
	return s.start(ctx, i, &csvsource.Resume{Header: header, Offset: c.Offset, Line: c.Line}, c.Gzip)
}

// start opens objects[i] (at a resume point, or from its start reading its
// header), skipping empty objects at the start of a fresh run.
func (s *Source) start(ctx context.Context, i int, at *csvsource.Resume, gz bool) error {
	s.closeObject()
	s.idx = i
	if i >= len(s.objects) {
		return nil
	}
	o := s.objects[i]
	s.obj = &objectReader{bucket: s.bucket, obj: o, ctx: ctx}
	opts := s.opts
	opts.Origin = "s3://" + s.bucketN + "/" + o.key
	var r io.Reader
	if at != nil && !gz {
		s.obj.pos = at.Offset
		r = bufio.NewReaderSize(s.obj, bufferSize)
	} else {
		br := bufio.NewReaderSize(s.obj, bufferSize)
		magic, err := br.Peek(2)
		if err != nil && err != io.EOF {
			return fmt.Errorf("s3source: read %s: %w", o.key, err)
		}
		r = br
		s.gz = len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b || strings.HasSuffix(o.key, ".gz")
		if s.gz {
			zr, err := gzip.NewReader(br)
			if err != nil {
				return fmt.Errorf("s3source: gunzip %s: %w", o.key, err)
			}
			s.zr, r = zr, zr
			if at != nil {
				if n, err := io.CopyN(io.Discard, zr, at.Offset); err != nil {
					return fmt.Errorf("s3source: skip %s to %d (at %d): %w", o.key, at.Offset, n, err)
				}
			}
		}
	}
	if at != nil {
		s.gz = gz
	}
	dec, err := csvsource.NewDecoder(r, opts, at)
	if err != nil {
		return err
	}
	if at == nil {
		if err := s.checkHeader(o, dec); err != nil {
			return err
		}
	}
	s.dec = dec
	k, _ := json.Marshal(o.key)
	e, _ := json.Marshal(o.etag)
	s.prefix = append(append(append(append([]byte(`{"k":`), k...), `,"e":`...), e...), `,"o":`...)
	if s.gz {
		s.prefix = append(s.prefix[:len(s.prefix)-len(`,"o":`)], `,"z":true,"o":`...)
	}
	return nil
}

// checkHeader takes the first object's header as the input's, and checks
// that later objects have the same columns.
func (s *Source) checkHeader(o object, dec *csvsource.Decoder) error {
	h := dec.Header()
	if h == nil {
		return nil // empty object: no rows
	}
	if s.header == nil {
		s.header, s.mapping, s.dialect = h, dec.Mapping(), dec.Dialect()
		return nil
	}
	same := len(h) == len(s.header) && slices.Equal(dec.Mapping(), s.mapping)
	for j := 0; same && j < len(h); j++ {
		same = strings.EqualFold(strings.TrimSpace(h[j]), strings.TrimSpace(s.header[j]))
	}
	if !same {
		return fmt.Errorf("s3source: %s: header %q does not match the first object's %q", o.key, h, s.header)
	}
	return nil
}

// Header returns the input column names (the first object's header).
func (s *Source) Header() []string { return s.header }

// Mapping returns the contact field of each column.
func (s *Source) Mapping() contact.Mapping { return s.mapping }

// Dialect returns the resolved dialect of the input's first object.
func (s *Source) Dialect() csvsource.Dialect { return s.dialect }

// Next returns the next row with its Cursor, io.EOF after the last row of
// the last object, or a *pipeline.RowError (with Cursor) for a row it
// skipped. ctx must stay live while rows are read: a GET reopened after a
// dropped connection uses it.
func (s *Source) Next(ctx context.Context) (pipeline.Row, error) {
	for {
		if s.idx >= len(s.objects) || s.dec == nil {
			return pipeline.Row{}, io.EOF
		}
		s.obj.ctx = ctx
		row, err := s.dec.Next(ctx)
		if err == io.EOF {
			if err := s.start(ctx, s.idx+1, nil, false); err != nil {
				return pipeline.Row{}, err
			}
			continue
		}
		if err != nil {
			var re *pipeline.RowError
			if errors.As(err, &re) {
				re.Cursor = s.cursor()
			}
			return row, err
		}
		row.Cursor = s.cursor()
		return row, nil
	}
}

func (s *Source) cursor() string {
	b := make([]byte, 0, len(s.prefix)+32)
	b = append(b, s.prefix...)
	b = strconv.AppendInt(b, s.dec.Offset(), 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, s.dec.Line(), 10)
	return string(append(b, '}'))
}

func (s *Source) closeObject() {
	if s.zr != nil {
		_ = s.zr.Close()
		s.zr = nil
	}
	if s.obj != nil {
		_ = s.obj.Close()
		s.obj = nil
	}
	s.dec, s.gz = nil, false
}

// Close ends the current GET and closes the bucket.
func (s *Source) Close() error {
	s.closeObject()
	return s.bucket.Close()
}

// listObjects lists the input: the object key, or every object under key
// when it is empty or ends with "/", in key order.
func listObjects(ctx context.Context, b *blob.Bucket, key string) ([]object, error) {
	if key != "" && !strings.HasSuffix(key, "/") {
		a, err := b.Attributes(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("s3source: stat %s: %w", key, err)
		}
		return []object{{key: key, etag: a.ETag, size: a.Size}}, nil
	}
	var objs []object
	it := b.List(&blob.ListOptions{Prefix: key})
	for {
		lo, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("s3source: list %q: %w", key, err)
		}
		if lo.IsDir {
			continue
		}
		o := object{key: lo.Key, size: lo.Size}
		var so types.Object
		if lo.As(&so) && so.ETag != nil {
			o.etag = *so.ETag
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("s3source: no objects under %q", key)
	}
	slices.SortFunc(objs, func(a, b object) int { return strings.Compare(a.key, b.key) })
	return objs, nil
}

// Fingerprint identifies the input for resume from its objects' keys,
// ETags and sizes.
func Fingerprint(ctx context.Context, rawURL string) (string, error) {
	b, key, err := openBucket(ctx, rawURL)
	if err != nil {
		return "", err
	}
	defer b.Close()
	objs, err := listObjects(ctx, b, key)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, o := range objs {
		fmt.Fprintf(h, "%s\t%s\t%d\n", o.key, o.etag, o.size)
	}
	return fmt.Sprintf("s3 objects=%d sha256=%x", len(objs), h.Sum(nil)), nil
}

// Detect detects the dialect of the input (its first non-empty object's;
// see csvsource.Detect) from the head of that object.
func Detect(ctx context.Context, rawURL string, force csvsource.Dialect) (csvsource.Dialect, error) {
	b, key, err := openBucket(ctx, rawURL)
	if err != nil {
		return csvsource.Dialect{}, err
	}
	defer b.Close()
	objs, err := listObjects(ctx, b, key)
	if err != nil {
		return csvsource.Dialect{}, err
	}
	return detect(ctx, b, objs, force)
}

func detect(ctx context.Context, b *blob.Bucket, objs []object, force csvsource.Dialect) (csvsource.Dialect, error) {
	for _, o := range objs {
		if o.size == 0 {
			continue
		}
		r := &objectReader{bucket: b, obj: o, ctx: ctx}
		d, err := csvsource.DetectReader(r, force)
		_ = r.Close()
		if err != nil {
			return csvsource.Dialect{}, fmt.Errorf("s3source: %s: %w", o.key, err)
		}
		return d, nil
	}
	return csvsource.Detect(nil, force)
}

// bucketName returns the host of an s3:// URL.
func bucketName(rawURL string) string {
	rest := strings.TrimPrefix(rawURL, "s3://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
