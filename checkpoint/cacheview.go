package checkpoint

import (
	"context"

	"github.com/contactbatch/batch/pipeline"
)

// ForRun returns the view of the cache a run reads and writes: the answers
// cached under scope (see CacheScope), by their unscoped keys.
func (c *Cache) ForRun(scope CacheScope) pipeline.Cache { return scopedCache{c, scope} }

// ForRun returns the view of the shared cache a run reads and writes, as
// Cache.ForRun.
func (c *PGCache) ForRun(scope CacheScope) pipeline.Cache { return scopedCache{c, scope} }

type scopedCache struct {
	c     pipeline.Cache // a *Cache or a *PGCache
	scope CacheScope
}

func (s scopedCache) Get(ctx context.Context, kind pipeline.Kind, key string) (*pipeline.StoredResult, error) {
	r, err := s.c.Get(ctx, kind, s.scope.key(string(kind), key))
	if err != nil || r == nil {
		return nil, err
	}
	r.Key = key
	return r, nil
}

func (s scopedCache) Put(ctx context.Context, r pipeline.StoredResult) error {
	r.Key = s.scope.key(string(r.Kind), r.Key)
	return s.c.Put(ctx, r)
}
