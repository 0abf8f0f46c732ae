package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/engine"
)

// explicitUploads is a config whose uploads happen only when a test calls
// UploadOnce, with reads served from the object store.
func explicitUploads(c *engine.Config) {
	c.UploadInterval = time.Hour
	c.LogCacheBytes = 1
	c.BlockCacheBytes = 1
}

func uploadOnce(t *testing.T, v *env) {
	t.Helper()
	if _, err := v.e.UploadOnce(context.Background()); err != nil {
		t.Fatalf("upload: %v", err)
	}
}

func hasAll(have []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func hasNone(have []string, want ...string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func TestRetentionTime(t *testing.T) {
	v := newEnv(t, memWAL, explicitUploads)
	v.createTopic("t", 1, map[string]string{"retention.ms": "60000"})
	p := v.part("t", 0)
	ctx := context.Background()
	now := v.clock.Now().UnixMilli()
	min := int64(60_000)

	var want []sent
	var keys []string
	for i, age := range []int64{10 * min, 5 * min, min / 2} {
		want = append(want, produceN(t, p, "old"+string(rune('a'+i)), 1, 2, now-age, 10)...)
		uploadOnce(t, v)
		rk := p.RangeKeys()
		keys = append(keys, rk[len(rk)-1])
	}
	// Not uploaded, and old: retention leaves the tail alone.
	want = append(want, produceN(t, p, "tail", 1, 1, now-20*min, 10)...)

	v.e.ApplyRetention(ctx)
	if ls, _, _, _ := p.Offsets(); ls != want[2].base {
		t.Fatalf("log start after retention = %d, want %d", ls, want[2].base)
	}
	if _, err := p.Read(ctx, 0, 1<<20); !errors.Is(err, engine.ErrOffsetOutOfRange) {
		t.Fatalf("Read(0) after retention = %v", err)
	}
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	objs := storeKeys(t, v.store.Inner())
	if !hasNone(objs, keys[0], keys[1]) || !hasAll(objs, keys[2]) {
		t.Fatalf("objects after GC = %v; want %s gone, %s kept", objs, keys[:2], keys[2])
	}
	if gc := metaKeys(t, v.kv, "gc/"); len(gc) != 0 {
		t.Fatalf("garbage keys left after GC: %v", gc)
	}
	checkLog(t, p, want)

	v.clock.Advance(10 * time.Minute)
	v.e.ApplyRetention(ctx)
	if ls, _, _, _ := p.Offsets(); ls != want[3].base {
		t.Fatalf("log start = %d, want %d (the tail is kept)", ls, want[3].base)
	}
	uploadOnce(t, v)
	v.e.ApplyRetention(ctx)
	_, hw, _, _ := p.Offsets()
	if ls, _, _, _ := p.Offsets(); ls != hw {
		t.Fatalf("log start = %d, want hw %d", ls, hw)
	}
	if res, err := p.Read(ctx, hw, 1<<20); err != nil || len(res.Records) != 0 {
		t.Fatalf("Read(hw) = %v", err)
	}
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if objs := storeKeys(t, v.store.Inner()); len(objs) != 0 {
		t.Fatalf("objects left after everything expired: %v", objs)
	}
	v.restart()
	p = v.part("t", 0)
	if ls, hw2, _, _ := p.Offsets(); ls != hw || hw2 != hw {
		t.Fatalf("after restart log start %d hw %d, want %d", ls, hw2, hw)
	}
	more := produceN(t, p, "new", 1, 1, v.clock.Now().UnixMilli(), 0)
	if more[0].base != hw {
		t.Fatalf("next offset %d, want %d", more[0].base, hw)
	}
	checkLog(t, p, more)
}

// With the engine's own default TopicConfig, a topic that sets only
// cleanup.policy=delete has no retention.ms value at all; that must mean
// "no time limit", not "0 ms".
func TestRetentionUnsetKeepsData(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		explicitUploads(c)
		c.TopicConfig = nil
	})
	v.createTopic("t", 1, map[string]string{"cleanup.policy": "delete"})
	p := v.part("t", 0)
	want := produceN(t, p, "x", 3, 1, 1000, 0)
	uploadOnce(t, v)
	v.e.ApplyRetention(context.Background())
	if ls, _, _, _ := p.Offsets(); ls != 0 {
		t.Fatalf("log start moved to %d with no retention configured", ls)
	}
	checkLog(t, p, want)
}

func TestRetentionBytes(t *testing.T) {
	v := newEnv(t, memWAL, explicitUploads)
	p0 := v.createTopic("t", 1, nil).Partitions[0]
	ctx := context.Background()
	var want []sent
	var size int64
	for i := range 5 {
		raw, h := idBatch(t, "r"+string(rune('0'+i)), 1, 1, 200)
		size = int64(len(raw))
		want = append(want, sent{id: "r" + string(rune('0'+i)), base: produce(t, p0, raw, h), n: 1})
		uploadOnce(t, v)
	}
	// One more, not uploaded, counts toward the size but is never deleted.
	raw, h := idBatch(t, "r5", 1, 1, 200)
	want = append(want, sent{id: "r5", base: produce(t, p0, raw, h), n: 1})

	// Kafka's rule: drop the oldest range while the total without it is
	// still at least the limit. Six batches of size bytes, five uploaded.
	expect := func(limit int64) int64 {
		total, start := 6*size, int64(0)
		for r := int64(0); r < 5 && total-size >= limit; r++ {
			total -= size
			start = r + 1
		}
		return start
	}
	cases := []struct{ limit, wantStart int64 }{
		{limit: 10 * size},
		{limit: 6 * size},
		{limit: 5*size + 1},
		{limit: 5 * size},
		{limit: 3*size + size/2},
		{limit: size},
		{limit: 0}, // the batch not yet uploaded stays
	}
	for i := range cases {
		cases[i].wantStart = expect(cases[i].limit)
	}
	for _, c := range cases {
		if err := v.e.SetTopicConfigs(ctx, "t", map[string]string{"retention.bytes": itoa(c.limit)}); err != nil {
			t.Fatal(err)
		}
		v.e.ApplyRetention(ctx)
		if ls, _, _, _ := v.part("t", 0).Offsets(); ls != c.wantStart {
			t.Fatalf("retention.bytes=%d (batch %d bytes): log start %d, want %d", c.limit, size, ls, c.wantStart)
		}
		checkLog(t, v.part("t", 0), want)
	}
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(storeKeys(t, v.store.Inner())); n != 0 {
		t.Fatalf("%d objects left after all ranges were dropped", n)
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// An object shared by several partitions (of one topic and of others) is
// deleted only once no partition refers to it.
func TestGarbageSharedObject(t *testing.T) {
	v := newEnv(t, memWAL, explicitUploads)
	v.createTopic("m", 2, nil)
	v.createTopic("k", 1, nil)
	ctx := context.Background()
	m0 := produceN(t, v.part("m", 0), "m0", 2, 1, 1, 10)
	m1 := produceN(t, v.part("m", 1), "m1", 2, 1, 1, 10)
	k0 := produceN(t, v.part("k", 0), "k0", 2, 1, 1, 10)
	uploadOnce(t, v)
	key := v.part("m", 0).RangeKeys()[0]
	for _, p := range []struct {
		t string
		i int32
	}{{"m", 1}, {"k", 0}} {
		if rk := v.part(p.t, p.i).RangeKeys(); len(rk) != 1 || rk[0] != key {
			t.Fatalf("%s-%d ranges %v, want the one shared object %s", p.t, p.i, rk, key)
		}
	}
	step := func(what string, wantKept bool) {
		t.Helper()
		if err := v.e.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
		if kept := slices.Contains(storeKeys(t, v.store.Inner()), key); kept != wantKept {
			t.Fatalf("after %s: object kept = %v, want %v", what, kept, wantKept)
		}
	}
	if _, err := v.e.DeleteRecords(ctx, v.part("m", 0), -1); err != nil {
		t.Fatal(err)
	}
	step("m-0 dropped it", true)
	checkLog(t, v.part("m", 1), m1)
	checkLog(t, v.part("k", 0), k0)
	if _, err := v.e.DeleteRecords(ctx, v.part("m", 1), -1); err != nil {
		t.Fatal(err)
	}
	step("m-1 dropped it", true)
	checkLog(t, v.part("k", 0), k0)
	if err := v.e.SetTopicConfigs(ctx, "k", map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(time.Hour)
	v.e.ApplyRetention(ctx)
	step("every partition dropped it", false)
	_ = m0
	if gc := metaKeys(t, v.kv, "gc/"); len(gc) != 0 {
		t.Fatalf("garbage keys left: %v", gc)
	}
}

func TestDeleteRecords(t *testing.T) {
	v := newEnv(t, memWAL, explicitUploads)
	v.createTopic("t", 1, map[string]string{"cleanup.policy": "compact"})
	p := v.part("t", 0)
	ctx := context.Background()
	var want []sent
	var keys []string
	// Ten batches of two records: offsets 0..19. The first five are
	// uploaded one object each; the rest stay in the WAL and log cache.
	for i := range 10 {
		want = append(want, produceN(t, p, "d"+itoa(int64(i)), 1, 2, 1, 10)...)
		if i < 5 {
			uploadOnce(t, v)
			rk := p.RangeKeys()
			keys = append(keys, rk[len(rk)-1])
		}
	}
	steps := []struct {
		offset    int64
		wantStart int64
		wantErr   error
		readBase  int64 // base offset of the batch served at the new log start
	}{
		{offset: 7, wantStart: 7, readBase: 6},    // mid-batch, in uploaded data
		{offset: 3, wantStart: 7, readBase: 6},    // below the log start: no change
		{offset: 13, wantStart: 13, readBase: 12}, // in data not yet uploaded
		{offset: 21, wantErr: engine.ErrOffsetOutOfRange},
		{offset: -2, wantErr: engine.ErrOffsetOutOfRange},
		{offset: -1, wantStart: 20, readBase: -1}, // -1 means the high watermark
	}
	for _, s := range steps {
		got, err := v.e.DeleteRecords(ctx, p, s.offset)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("DeleteRecords(%d) = %d, %v; want %v", s.offset, got, err, s.wantErr)
			}
			continue
		}
		if err != nil || got != s.wantStart {
			t.Fatalf("DeleteRecords(%d) = %d, %v; want %d", s.offset, got, err, s.wantStart)
		}
		if ls, _, _, _ := p.Offsets(); ls != s.wantStart {
			t.Fatalf("log start %d, want %d", ls, s.wantStart)
		}
		if _, err := p.Read(ctx, s.wantStart-1, 1<<20); !errors.Is(err, engine.ErrOffsetOutOfRange) {
			t.Fatalf("Read below log start %d = %v", s.wantStart, err)
		}
		res, err := p.Read(ctx, s.wantStart, 1)
		if err != nil {
			t.Fatal(err)
		}
		bs := decodeBatches(t, res.Records)
		if s.readBase < 0 {
			if len(bs) != 0 {
				t.Fatal("read at hw after DeleteRecords(-1) returned data")
			}
		} else if len(bs) != 1 || bs[0].h.BaseOffset != s.readBase {
			t.Fatalf("read at log start %d returned %d batches", s.wantStart, len(bs))
		}
		checkLog(t, p, want)
	}
	// Ranges below the log start were forgotten and their objects are
	// garbage; the rest is still referenced.
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if objs := storeKeys(t, v.store.Inner()); len(objs) != 0 {
		t.Fatalf("objects below the log start not deleted: %v", objs)
	}

	// The data not yet uploaded still uploads, then a restart keeps the
	// log start and the offsets.
	uploadOnce(t, v)
	v.restart()
	p = v.part("t", 0)
	if ls, hw, _, _ := p.Offsets(); ls != 20 || hw != 20 {
		t.Fatalf("after restart log start %d hw %d, want 20 20", ls, hw)
	}
	more := produceN(t, p, "after", 1, 1, 1, 0)
	if more[0].base != 20 {
		t.Fatalf("next offset %d, want 20", more[0].base)
	}
	checkLog(t, p, more)
	// Retention (cleanup.policy=delete) drops the stale range uploaded
	// below the log start.
	if err := v.e.SetTopicConfigs(ctx, "t", nil); err != nil {
		t.Fatal(err)
	}
	v.e.ApplyRetention(ctx)
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if rk := p.RangeKeys(); len(rk) != 0 {
		t.Fatalf("ranges below the log start kept: %v", rk)
	}
	checkLog(t, p, more)
}

func TestDeleteTopic(t *testing.T) {
	v := newEnv(t, memWAL, explicitUploads)
	gone := v.createTopic("gone", 2, nil)
	v.createTopic("stay", 1, nil)
	ctx := context.Background()
	produceN(t, v.part("gone", 0), "g0", 2, 1, 1, 10)
	produceN(t, v.part("gone", 1), "g1", 2, 1, 1, 10)
	want := produceN(t, v.part("stay", 0), "s", 2, 1, 1, 10)
	uploadOnce(t, v)
	shared := v.part("stay", 0).RangeKeys()[0]
	produceN(t, v.part("gone", 0), "g0b", 2, 1, 1, 10)
	uploadOnce(t, v)
	own := v.part("gone", 0).RangeKeys()[1]
	// Not uploaded at deletion: still in the WAL.
	produceN(t, v.part("gone", 0), "g0c", 3, 1, 1, 10)
	produceN(t, v.part("gone", 1), "g1c", 1, 1, 1, 10)
	want = append(want, produceN(t, v.part("stay", 0), "s-pending", 2, 1, 1, 10)...)
	stayPending := func() int64 {
		var n int64
		for _, b := range readAll(t, v.part("stay", 0), 2, 1<<20) {
			n += int64(b.h.Size())
		}
		return n
	}()
	lastSeq := v.e.Stats().LastWALSeq

	oldPart := v.part("gone", 0)
	if err := v.e.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if v.e.Topic("gone") != nil || v.e.TopicByID(gone.ID) != nil {
		t.Fatal("deleted topic still listed")
	}
	if err := v.e.DeleteTopic(ctx, "gone"); !errors.Is(err, engine.ErrUnknownTopic) {
		t.Fatalf("second DeleteTopic = %v", err)
	}
	if _, err := oldPart.Read(ctx, 0, 1<<20); !errors.Is(err, engine.ErrPartitionDeleted) {
		t.Fatalf("Read of a deleted partition = %v", err)
	}
	raw, h := idBatch(t, "late", 1, 1, 0)
	if _, err := oldPart.Append(ctx, raw, h, false); !errors.Is(err, engine.ErrPartitionDeleted) {
		t.Fatalf("Append to a deleted partition = %v", err)
	}
	for _, prefix := range []string{"parts/" + gone.ID.String() + "/", "objs/" + gone.ID.String() + "/", "topics/gone"} {
		if ks := metaKeys(t, v.kv, prefix); len(ks) != 0 {
			t.Fatalf("metadata left under %s: %v", prefix, ks)
		}
	}
	if pb := v.e.Stats().PendingBytes; pb != stayPending {
		t.Fatalf("pending bytes %d after delete, want %d (the other topic's)", pb, stayPending)
	}
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	objs := storeKeys(t, v.store.Inner())
	if !hasAll(objs, shared) || !hasNone(objs, own) {
		t.Fatalf("objects after GC = %v; want %s kept (shared), %s deleted", objs, shared, own)
	}
	checkLog(t, v.part("stay", 0), want)

	// Crash: the WAL still holds the deleted topic's entries; replay skips
	// them and keeps the other topic's.
	v.crash(nil)
	if seq := v.e.Stats().LastWALSeq; seq < lastSeq {
		t.Fatalf("replay ended at seq %d, before %d: the WAL lost entries", seq, lastSeq)
	}
	if pb := v.e.Stats().PendingBytes; pb != stayPending {
		t.Fatalf("pending bytes after replay %d, want %d: deleted topic's entries replayed?", pb, stayPending)
	}
	if v.e.Topic("gone") != nil {
		t.Fatal("deleted topic back after restart")
	}
	checkLog(t, v.part("stay", 0), want)
	uploadOnce(t, v)
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}

	// A new topic of the same name starts empty.
	nt := v.createTopic("gone", 1, nil)
	if nt.ID == gone.ID {
		t.Fatal("re-created topic reuses the old ID")
	}
	p := v.part("gone", 0)
	if _, hw, _, _ := p.Offsets(); hw != 0 {
		t.Fatalf("re-created topic has hw %d", hw)
	}
	fresh := produceN(t, p, "fresh", 1, 1, 1, 0)
	if fresh[0].base != 0 {
		t.Fatalf("re-created topic's first offset %d", fresh[0].base)
	}
	v.restart()
	got := checkLog(t, v.part("gone", 0), fresh)
	if len(got) != 1 {
		t.Fatalf("re-created topic holds %d batches, want 1", len(got))
	}
	checkLog(t, v.part("stay", 0), want)
}
