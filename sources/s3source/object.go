package s3source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/cenkalti/backoff/v4"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Reconnect limits for a transient read error in the middle of an object.
const (
	// DefaultMaxReconnects bounds the attempts to reopen an object after
	// one read error.
	DefaultMaxReconnects = 5
	// DefaultReconnectWait is the first wait between failed attempts (the
	// first attempt is immediate); it grows exponentially with jitter.
	DefaultReconnectWait = 200 * time.Millisecond
)

// ErrChanged reports that an object changed (another ETag) or vanished
// since the cursor was taken: resume is impossible, restart the job.
var ErrChanged = errors.New("input object changed since the job started")

// object is one input object.
type object struct {
	key  string
	etag string
	size int64
}

// objectReader streams one object from a raw offset and, when a read fails
// mid-object, reopens it with a ranged GET at the last good offset
// (bounded exponential backoff), checking that the ETag is unchanged.
type objectReader struct {
	bucket *blob.Bucket
	obj    object
	pos    int64 // raw offset of the next byte
	r      *blob.Reader
	// ctx is the context of the caller's current Next: a Read has no
	// context of its own, and a reopened body must live as long as reads go on.
	ctx        context.Context
	reconnects int // reopenings after a read error, for tests and stats
}

func (o *objectReader) Read(p []byte) (int, error) {
	for stalls := 0; ; stalls++ {
		if o.pos >= o.obj.size {
			return 0, io.EOF
		}
		if o.r == nil {
			if err := o.open(); err != nil {
				return 0, err
			}
		}
		n, err := o.r.Read(p)
		o.pos += int64(n)
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && o.pos >= o.obj.size:
			return n, io.EOF
		case o.ctx.Err() != nil:
			return n, o.ctx.Err()
		}
		// A cut connection or a short body: reopen at pos.
		_ = o.r.Close()
		o.r = nil
		o.reconnects++
		if n > 0 {
			return n, nil
		}
		if stalls >= DefaultMaxReconnects {
			return 0, fmt.Errorf("s3source: read %s at %d: %w", o.obj.key, o.pos, err)
		}
	}
}

// open starts a GET at pos, retrying transient failures.
func (o *objectReader) open() error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = DefaultReconnectWait
	b.MaxElapsedTime = 0
	policy := backoff.WithContext(backoff.WithMaxRetries(b, DefaultMaxReconnects), o.ctx)
	return backoff.Retry(func() error {
		r, err := o.bucket.NewRangeReader(o.ctx, o.obj.key, o.pos, -1, &blob.ReaderOptions{
			BeforeRead: func(as func(any) bool) error {
				var in *s3.GetObjectInput
				if as(&in) && o.obj.etag != "" {
					in.IfMatch = aws.String(o.obj.etag)
				}
				return nil
			},
		})
		if err != nil {
			switch gcerrors.Code(err) {
			case gcerrors.NotFound, gcerrors.FailedPrecondition:
				return backoff.Permanent(fmt.Errorf("s3source: %s: %w", o.obj.key, ErrChanged))
			case gcerrors.PermissionDenied, gcerrors.InvalidArgument:
				return backoff.Permanent(fmt.Errorf("s3source: get %s at %d: %w", o.obj.key, o.pos, err))
			}
			if o.ctx.Err() != nil {
				return backoff.Permanent(o.ctx.Err())
			}
			return fmt.Errorf("s3source: get %s at %d: %w", o.obj.key, o.pos, err)
		}
		if etag, ok := readerETag(r); ok && o.obj.etag != "" && !sameETag(etag, o.obj.etag) {
			_ = r.Close()
			return backoff.Permanent(fmt.Errorf("s3source: %s: ETag %s, want %s: %w", o.obj.key, etag, o.obj.etag, ErrChanged))
		}
		o.r = r
		return nil
	}, policy)
}

// Close ends the current GET.
func (o *objectReader) Close() error {
	if o.r == nil {
		return nil
	}
	err := o.r.Close()
	o.r = nil
	return err
}

// readerETag returns the ETag of an S3 GET response.
func readerETag(r *blob.Reader) (string, bool) {
	var out s3.GetObjectOutput
	if !r.As(&out) || out.ETag == nil {
		return "", false
	}
	return *out.ETag, true
}

func sameETag(a, b string) bool {
	return strings.Trim(a, `"`) == strings.Trim(b, `"`)
}
