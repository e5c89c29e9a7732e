package s3source

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Fetch copies the single object at s3://bucket/key (not a prefix) to w,
// with the reconnecting reader of the CSV path and the object's ETag
// pinned: a workbook needs random access, so it is read from a local copy.
func Fetch(ctx context.Context, rawURL string, w io.Writer) error {
	b, key, err := openBucket(ctx, rawURL)
	if err != nil {
		return err
	}
	defer b.Close()
	if key == "" || strings.HasSuffix(key, "/") {
		return fmt.Errorf("s3source: %s: a workbook input is one object, not a prefix", key)
	}
	objs, err := listObjects(ctx, b, key)
	if err != nil {
		return err
	}
	r := &objectReader{bucket: b, obj: objs[0], ctx: ctx}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("s3source: fetch %s: %w", key, err)
	}
	return nil
}
