package checkpoint

import "context"

// OpenRotateAt is Open with the results log moved into the database every
// n records, so tests can put results on both sides.
func OpenRotateAt(ctx context.Context, dir string, n int) (*Ledger, error) {
	o := defaultOptions()
	o.rotateAt = n
	return open(ctx, dir, o)
}

// OpenRotateFailing is OpenRotateAt with rotations moving chunk records per
// transaction and failing before the transaction after the first.
func OpenRotateFailing(ctx context.Context, dir string, n, chunk int, err error) (*Ledger, error) {
	o := defaultOptions()
	o.rotateAt, o.rotateChunk = n, chunk
	o.afterChunk = func(int) error { return err }
	return open(ctx, dir, o)
}
