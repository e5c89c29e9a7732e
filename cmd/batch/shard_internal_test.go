package main

import (
	"testing"

	"github.com/contactbatch/batch/internal/shard"
)

func TestShardRate(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		s    shard.Spec
		want float64
	}{
		{30, shard.Spec{}, 30},
		{30, shard.Spec{Index: 2, Count: 3}, 10},
		{0, shard.Spec{Index: 0, Count: 3}, 0}, // adaptive stays adaptive
	} {
		if got := shardRate(tc.rate, tc.s); got != tc.want {
			t.Errorf("shardRate(%v, %v) = %v, want %v", tc.rate, tc.s, got, tc.want)
		}
	}
}

func TestPickKey(t *testing.T) {
	keys := []string{"k1", "k2", "k3"}
	seen := map[string]bool{}
	var tenant string
	for i := range 6 {
		k, ten := pickKey(keys, shard.Spec{Index: i, Count: 6})
		if k != keys[i%3] {
			t.Errorf("shard %d/6 got key %q, want %q", i, k, keys[i%3])
		}
		if tenant != "" && ten != tenant {
			t.Error("shards with different keys must share one cache tenant")
		}
		tenant = ten
		seen[k] = true
	}
	if k, ten := pickKey([]string{"only"}, shard.Spec{Index: 1, Count: 2}); k != "only" || ten != "only" {
		t.Errorf("one key: %q, %q", k, ten)
	}
	if k, _ := pickKey(nil, shard.Spec{}); k != "" {
		t.Error("no key: want empty")
	}
}
