// Package s3sink writes a run's output (CSV or JSONL) to an object in
// S3-compatible storage. Rows are staged in a local file through
// sinks/filesink, with its commit and resume rules; Close uploads the
// staged file, so the object appears only when the whole output is there,
// and never partially.
package s3sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/contactbatch/batch/pipeline"
	"github.com/contactbatch/batch/sinks/filesink"
)

var _ pipeline.Sink = (*Sink)(nil)

// Sink stages outputs in a local file and uploads it on Close. Write,
// Commit, Close and Release are called from one goroutine.
type Sink struct {
	bucket  *blob.Bucket
	key     string
	staging string
	format  filesink.Format
	file    *filesink.Sink
	done    bool
}

// Open opens s3://bucket/key?options (the s3blob URL options: endpoint,
// use_path_style, region, …; credentials from the standard AWS chain) for
// writing, staging rows in stagingPath through filesink.Open(stagingPath,
// opts, pos). The caller picks opts.Format (filesink.FormatFor(key)). It
// first proves the bucket writable (see ProbeSuffix), so that an output
// that cannot be written fails before the run's first paid call.
//
// On resume (pos not empty) after a crash that came after a previous
// Close had uploaded the object and removed the staged file, the object is
// downloaded back to stagingPath so that the staging file resumes at pos.
func Open(ctx context.Context, rawURL, stagingPath string, opts filesink.Options, pos pipeline.Position) (*Sink, error) {
	b, key, err := openBucket(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if err := probe(ctx, b, key); err != nil {
		_ = b.Close()
		return nil, err
	}
	s := &Sink{bucket: b, key: key, staging: stagingPath, format: opts.Format}
	if pos != "" {
		if err := s.restore(ctx, pos); err != nil {
			_ = b.Close()
			return nil, err
		}
	}
	s.file, err = filesink.Open(stagingPath, opts, pos)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("s3sink: stage %s: %w", key, err)
	}
	return s, nil
}

// ProbeSuffix names the object Open writes beside the output key and
// deletes at once, to prove the bucket exists and accepts writes before a
// run pays for anything (the output itself is uploaded only at Close).
const ProbeSuffix = ".batch-probe"

// probe writes and deletes key+ProbeSuffix.
func probe(ctx context.Context, b *blob.Bucket, key string) error {
	p := key + ProbeSuffix
	if err := b.WriteAll(ctx, p, []byte("batch write check\n"), nil); err != nil {
		return fmt.Errorf("s3sink: write check %s: %w", p, err)
	}
	if err := b.Delete(ctx, p); err != nil {
		return fmt.Errorf("s3sink: write check: delete %s: %w", p, err)
	}
	return nil
}

// restore downloads the uploaded object to the staging path when neither
// the partial nor the published staging file is left.
func (s *Sink) restore(ctx context.Context, pos pipeline.Position) error {
	for _, p := range []string{s.staging + filesink.PartialSuffix, s.staging} {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	n, err := strconv.ParseInt(string(pos), 10, 64)
	if err != nil {
		return nil // filesink reports the bad position
	}
	a, err := s.bucket.Attributes(ctx, s.key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil // filesink reports the missing staging file
	}
	if err != nil {
		return fmt.Errorf("s3sink: stat %s: %w", s.key, err)
	}
	if a.Size < n {
		return nil
	}
	f, err := os.OpenFile(s.staging, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filesink.DefaultMode)
	if err != nil {
		return fmt.Errorf("s3sink: restore %s: %w", s.staging, err)
	}
	err = s.bucket.Download(ctx, s.key, f, nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(s.staging)
		return fmt.Errorf("s3sink: restore %s from %s: %w", s.staging, s.key, err)
	}
	return nil
}

// Write stages one output row (see filesink.Sink.Write).
func (s *Sink) Write(ctx context.Context, out *pipeline.Output) error {
	return s.file.Write(ctx, out)
}

// Commit makes the staged rows durable and returns the position to resume
// from (see filesink.Sink.Commit). Nothing is uploaded.
func (s *Sink) Commit(ctx context.Context) (pipeline.Position, error) {
	return s.file.Commit(ctx)
}

// Close publishes the staged file, uploads it to the object (which becomes
// visible only when the upload completes; a failed or canceled upload
// leaves no object and keeps the staged file for a retry: call Close again,
// or Release to give up) and removes the staged file. Calling Close again
// after success returns nil.
func (s *Sink) Close(ctx context.Context) error {
	if s.done {
		return nil
	}
	if err := s.file.Close(ctx); err != nil {
		return fmt.Errorf("s3sink: stage %s: %w", s.key, err)
	}
	if err := s.upload(ctx); err != nil {
		return err
	}
	s.done = true
	err := os.Remove(s.staging)
	if err != nil {
		err = fmt.Errorf("s3sink: remove staged file: %w", err)
	}
	return errors.Join(err, s.bucket.Close())
}

// upload copies the staged file to the object with one blob.Writer.
func (s *Sink) upload(ctx context.Context) error {
	f, err := os.Open(s.staging)
	if err != nil {
		return fmt.Errorf("s3sink: upload %s: %w", s.key, err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ct := "text/csv; charset=utf-8"
	if s.format == filesink.JSONL {
		ct = "application/x-ndjson"
	}
	w, err := s.bucket.NewWriter(ctx, s.key, &blob.WriterOptions{ContentType: ct})
	if err != nil {
		return fmt.Errorf("s3sink: upload %s: %w", s.key, err)
	}
	if _, err := io.Copy(w, f); err != nil {
		cancel() // abort: nothing becomes visible
		_ = w.Close()
		return fmt.Errorf("s3sink: upload %s: %w", s.key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("s3sink: upload %s: %w", s.key, err)
	}
	return nil
}

// Release stops without uploading, leaving the staging file for a resume
// (see filesink.Sink.Release). Calling it again is a no-op.
func (s *Sink) Release() error {
	if s.done {
		return nil
	}
	s.done = true
	err := s.file.Release()
	if cerr := s.bucket.Close(); err == nil {
		err = cerr
	}
	return err
}

// Rows returns the number of rows written since Open.
func (s *Sink) Rows() int64 { return s.file.Rows() }

// openBucket opens the bucket of an s3://bucket/key?options URL and
// returns the key. response_checksum_validation=when_required is added
// unless set (S3-compatible servers often send no checksum).
func openBucket(ctx context.Context, rawURL string) (*blob.Bucket, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("s3sink: parse URL: %w", err)
	}
	key := strings.TrimPrefix(u.Path, "/")
	if u.Scheme != "s3" || u.Host == "" || key == "" || strings.HasSuffix(key, "/") {
		return nil, "", fmt.Errorf("s3sink: %s://%s/%s: want s3://bucket/key", u.Scheme, u.Host, key)
	}
	q := u.Query()
	if !q.Has("response_checksum_validation") {
		q.Set("response_checksum_validation", "when_required")
	}
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, &url.URL{Scheme: "s3", Host: u.Host, RawQuery: q.Encode()})
	if err != nil {
		return nil, "", fmt.Errorf("s3sink: open bucket %s: %w", u.Host, err)
	}
	return b, key, nil
}
