package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/meta"
)

// An object is garbage once the last partition drops its range in it, and
// that partition records it as a candidate again. When that happens while
// a collection is forgetting the candidate recorded by an earlier
// partition (the object was still referenced then), the collection must
// not forget the new record too: that leaked the object until the orphan
// sweep, which is why retention at full speed fell behind (20 GB of
// objects kept with retention.ms of 20 s).
func TestGCKeepsCandidateRecordedDuringCollection(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.LogCacheBytes = 1
		c.BlockCacheBytes = 1
		c.UploadInterval = time.Hour
	})
	v.createTopic("t", 2, nil)
	ctx := context.Background()
	p0, p1 := v.part("t", 0), v.part("t", 1)
	produceN(t, p0, "a", 3, 1, 1, 10)
	produceN(t, p1, "b", 3, 1, 1, 10)
	if _, err := v.e.UploadOnce(ctx); err != nil {
		t.Fatal(err)
	}
	keys := p0.RangeKeys()
	if len(keys) != 1 || len(p1.RangeKeys()) != 1 || p1.RangeKeys()[0] != keys[0] {
		t.Fatalf("ranges %v and %v, want both in one object", keys, p1.RangeKeys())
	}
	obj := keys[0]
	if _, err := v.e.DeleteRecords(ctx, p0, -1); err != nil {
		t.Fatal(err)
	}
	// Right before the collection forgets the candidate p0 recorded, p1
	// drops its range: the object is now unreferenced and recorded again.
	var fired atomic.Bool
	v.kv.MatchTxns(func(_ []meta.Cond, ops []meta.Op) bool {
		if len(ops) == 1 && ops[0].Delete && strings.HasSuffix(ops[0].Key, obj) && strings.HasPrefix(ops[0].Key, "gc/") &&
			fired.CompareAndSwap(false, true) {
			if _, err := v.e.DeleteRecords(ctx, p1, -1); err != nil {
				t.Error(err)
			}
		}
		return false
	})
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if !fired.Load() {
		t.Fatal("the collection never forgot the candidate")
	}
	v.kv.MatchTxns(nil)
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range storeKeys(t, v.store.Inner()) {
		if k == obj {
			t.Fatalf("object %s, referenced by no range, is still stored", obj)
		}
	}
}
