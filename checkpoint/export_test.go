package checkpoint

import "context"

// OpenRotateAt is Open with the results log moved into the database every
// n records, so tests can put results on both sides.
func OpenRotateAt(ctx context.Context, dir string, n int) (*Ledger, error) {
	o := defaultOptions()
	o.rotateAt = n
	return open(ctx, dir, o)
}
