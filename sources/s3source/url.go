package s3source

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/contactbatch/batch/internal/redact"
)

// openBucket opens the bucket of an s3://bucket/key?options URL and
// returns the key (or prefix). response_checksum_validation=when_required is
// added unless set: S3-compatible servers often send no checksum, and the
// SDK would warn on stderr for every GET.
func openBucket(ctx context.Context, rawURL string) (*blob.Bucket, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("s3source: parse URL: %w", err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return nil, "", fmt.Errorf("s3source: %q: want s3://bucket/key", redact.URL(u.String()))
	}
	q := u.Query()
	if !q.Has("response_checksum_validation") {
		q.Set("response_checksum_validation", "when_required")
	}
	bu := &url.URL{Scheme: "s3", Host: u.Host, RawQuery: q.Encode()}
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, bu)
	if err != nil {
		return nil, "", fmt.Errorf("s3source: open bucket %s: %w", u.Host, err)
	}
	return b, strings.TrimPrefix(u.Path, "/"), nil
}
