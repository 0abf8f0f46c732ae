package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/storage/objstore"
)

func TestAppendReadRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		kind    string
		cfg     func(*engine.Config)
		upload  bool // wait until everything is uploaded before reading
		evicted bool // and evicted from the log cache, so reads hit objects
	}{
		{name: "tail-not-uploaded", kind: memWAL, cfg: func(c *engine.Config) { c.UploadInterval = time.Hour }},
		{name: "tail-uploaded-cached", kind: memWAL, upload: true},
		{name: "objects", kind: memWAL, upload: true, evicted: true, cfg: func(c *engine.Config) {
			c.LogCacheBytes = 1
			c.BlockCacheBytes = 1 // every read goes to the store
		}},
		{name: "objects-block-cache", kind: memWAL, upload: true, evicted: true, cfg: func(c *engine.Config) {
			c.LogCacheBytes = 1
			c.MaxObjectBytes = 700 // several objects
		}},
		{name: "file-wal-objects", kind: fileWAL, upload: true, evicted: true, cfg: func(c *engine.Config) { c.LogCacheBytes = 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, tc.kind, tc.cfg)
			v.createTopic("t", 1, nil)
			p := v.part("t", 0)

			counts := []int{1, 3, 2, 5, 1, 4, 2}
			var raws [][]byte
			var want []sent
			next := int64(0)
			for i, n := range counts {
				id := fmt.Sprintf("b%d", i)
				raw, h := idBatch(t, id, n, 1_700_000_000_000+int64(i), 40)
				orig := bytes.Clone(raw)
				base := produce(t, p, raw, h)
				if !bytes.Equal(raw, orig) {
					t.Fatal("Append modified the caller's batch")
				}
				if base != next {
					t.Fatalf("batch %d got base offset %d, want %d", i, base, next)
				}
				next += int64(n)
				raws = append(raws, raw)
				want = append(want, sent{id: id, base: base, n: n})
			}
			total := next
			if tc.upload {
				waitUploaded(t, p)
			}
			if tc.evicted {
				waitFor(t, 5*time.Second, "log cache eviction", func() bool { return v.e.Stats().CachedBytes == 0 })
			}
			getsBefore := v.store.Calls(objstore.OpGetRange)

			logStart, hw, leo, epoch := p.Offsets()
			if logStart != 0 || hw != total || leo != total || epoch != 0 {
				t.Fatalf("Offsets() = %d, %d, %d, epoch %d; want 0, %d, %d, epoch 0", logStart, hw, leo, epoch, total, total)
			}

			ctx := context.Background()
			// Every offset, one batch at a time: the batch holding it, with
			// offsets and epoch stamped and the CRC still valid.
			for o := int64(0); o < total; o++ {
				res, err := p.Read(ctx, o, 1)
				if err != nil {
					t.Fatalf("Read(%d): %v", o, err)
				}
				if res.HW != total || res.LogStart != 0 {
					t.Fatalf("Read(%d): hw %d log start %d", o, res.HW, res.LogStart)
				}
				bs := decodeBatches(t, res.Records)
				if len(bs) != 1 {
					t.Fatalf("Read(%d, maxBytes 1) returned %d batches, want exactly 1", o, len(bs))
				}
				b := bs[0]
				if b.h.BaseOffset > o || b.h.LastOffset() < o {
					t.Fatalf("Read(%d) returned batch %d..%d", o, b.h.BaseOffset, b.h.LastOffset())
				}
				if b.h.LeaderEpoch != 0 {
					t.Fatalf("Read(%d): leader epoch %d, want 0", o, b.h.LeaderEpoch)
				}
				// Stored verbatim: everything the CRC covers is the producer's.
				var idx int
				for idx = range want {
					if want[idx].base == b.h.BaseOffset {
						break
					}
				}
				if want[idx].base != b.h.BaseOffset {
					t.Fatalf("Read(%d): base offset %d matches no produced batch", o, b.h.BaseOffset)
				}
				got := res.Records[:b.h.Size()]
				if !bytes.Equal(got[21:], raws[idx][21:]) || !bytes.Equal(got[8:12], raws[idx][8:12]) {
					t.Fatalf("Read(%d): batch bytes differ from the produced batch", o)
				}
			}
			checkLog(t, p, want)
			for _, mb := range []int{1, 200, 1 << 20} {
				if got := readAll(t, p, 0, mb); len(got) != len(counts) {
					t.Fatalf("readAll(maxBytes %d) read %d batches, want %d", mb, len(got), len(counts))
				}
			}
			// maxBytes covering exactly two whole batches returns two
			// (from the log cache; objects may split at a block end).
			if !tc.evicted {
				res, err := p.Read(ctx, want[1].base, len(raws[1])+len(raws[2]))
				if err != nil {
					t.Fatal(err)
				}
				if n := len(decodeBatches(t, res.Records)); n != 2 {
					t.Fatalf("Read with room for two batches returned %d", n)
				}
			}
			if tc.evicted && v.store.Calls(objstore.OpGetRange) == getsBefore {
				t.Fatal("reads of evicted data did not reach the object store")
			}
			if !tc.evicted && v.store.Calls(objstore.OpGetRange) != getsBefore {
				t.Fatal("reads of cached data went to the object store")
			}

			// At the high watermark: empty, no error. Beyond the log end
			// or below the start: out of range.
			res, err := p.Read(ctx, total, 1<<20)
			if err != nil || len(res.Records) != 0 || res.HW != total {
				t.Fatalf("Read(hw) = %d bytes, hw %d, %v; want empty", len(res.Records), res.HW, err)
			}
			for _, o := range []int64{-1, total + 1, total + 1000} {
				if _, err := p.Read(ctx, o, 1<<20); !errors.Is(err, engine.ErrOffsetOutOfRange) {
					t.Fatalf("Read(%d) = %v, want ErrOffsetOutOfRange", o, err)
				}
			}
			ls, err := v.e.DeleteRecords(ctx, p, want[2].base+1)
			if err != nil || ls != want[2].base+1 {
				t.Fatalf("DeleteRecords = %d, %v", ls, err)
			}
			if _, err := p.Read(ctx, want[2].base, 1<<20); !errors.Is(err, engine.ErrOffsetOutOfRange) {
				t.Fatalf("Read below log start = %v, want ErrOffsetOutOfRange", err)
			}
			res, err = p.Read(ctx, ls, 1)
			if err != nil || res.LogStart != ls {
				t.Fatalf("Read(log start) = %v, log start %d", err, res.LogStart)
			}
			if bs := decodeBatches(t, res.Records); len(bs) != 1 || bs[0].h.BaseOffset != want[2].base {
				t.Fatalf("Read(log start %d) did not return the batch holding it", ls)
			}
		})
	}
}

func TestAppendLogAppendTime(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) { c.LogCacheBytes = 1 })
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	raw, h := idBatch(t, "lat", 3, 1000, 0)
	ctx := context.Background()
	a, err := p.Append(ctx, raw, h, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	now := v.clock.Now().UnixMilli()
	if a.LogAppendTime != now {
		t.Fatalf("LogAppendTime = %d, want %d", a.LogAppendTime, now)
	}
	check := func(where string) {
		res, err := p.Read(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		bs := decodeBatches(t, res.Records) // validates the recomputed CRC
		if len(bs) != 1 || bs[0].h.Attributes&batch.LogAppendTimeBit == 0 || bs[0].h.MaxTimestamp != now {
			t.Fatalf("%s: batch not stamped with LogAppendTime %d: %+v", where, now, bs[0].h)
		}
		for i, ts := range bs[0].ts {
			if ts != now {
				t.Fatalf("%s: record %d timestamp %d, want %d", where, i, ts, now)
			}
		}
	}
	check("log cache")
	waitUploaded(t, p)
	waitFor(t, 5*time.Second, "eviction", func() bool { return v.e.Stats().CachedBytes == 0 })
	check("object")
	if off, ts, _, err := p.OffsetForTimestamp(ctx, now); err != nil || off != 0 || ts != now {
		t.Fatalf("OffsetForTimestamp(now) = %d, %d, %v", off, ts, err)
	}
}

func TestRestart(t *testing.T) {
	cases := []struct {
		kind      string
		putFails  bool // uploads fail: everything comes back from the WAL
		cacheSize int64
	}{
		{kind: memWAL},
		{kind: fileWAL},
		{kind: memWAL, putFails: true},
		{kind: fileWAL, putFails: true},
		{kind: fileWAL, cacheSize: 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/putFails=%v/cache=%d", tc.kind, tc.putFails, tc.cacheSize), func(t *testing.T) {
			v := newEnv(t, tc.kind, func(c *engine.Config) { c.LogCacheBytes = tc.cacheSize })
			if tc.putFails {
				v.store.Fail(objstore.OpPut, errPut)
			}
			configs := map[string]string{"retention.ms": "86400000", "segment.bytes": "1234"}
			v.createTopic("t", 2, configs)
			v.createTopic("u", 1, nil)
			var want [2][]sent
			// Epoch 0 writes 0..4 in partition 0.
			want[0] = append(want[0], produceN(t, v.part("t", 0), "e0", 5, 1, 100, 10)...)
			want[1] = append(want[1], produceN(t, v.part("t", 1), "p1e0", 2, 3, 100, 10)...)

			v.restart()
			p := v.part("t", 0)
			if p.Epoch() != 1 {
				t.Fatalf("epoch after first restart = %d, want 1", p.Epoch())
			}
			checkLog(t, p, want[0])
			checkLog(t, v.part("t", 1), want[1])
			// Epoch 1 writes 5..7.
			want[0] = append(want[0], produceN(t, p, "e1", 3, 1, 200, 10)...)
			if want[0][5].base != 5 {
				t.Fatalf("first offset of epoch 1 = %d, want 5", want[0][5].base)
			}

			v.restart() // epoch 2 writes nothing
			v.restart()
			p = v.part("t", 0)
			if p.Epoch() != 3 {
				t.Fatalf("epoch after three restarts = %d, want 3", p.Epoch())
			}
			// Epoch 3 writes 8..9.
			want[0] = append(want[0], produceN(t, p, "e3", 2, 1, 300, 10)...)

			v.restart()
			p = v.part("t", 0)
			if p.Epoch() != 4 {
				t.Fatalf("epoch = %d, want 4", p.Epoch())
			}
			got := checkLog(t, p, want[0])
			if len(got) != 10 {
				t.Fatalf("read %d batches, want 10", len(got))
			}
			for _, b := range got {
				var we int32
				switch {
				case b.h.BaseOffset < 5:
					we = 0
				case b.h.BaseOffset < 8:
					we = 1
				default:
					we = 3
				}
				if b.h.LeaderEpoch != we {
					t.Fatalf("batch at %d has leader epoch %d, want %d", b.h.BaseOffset, b.h.LeaderEpoch, we)
				}
				if e := p.EpochForOffset(b.h.BaseOffset); e != we {
					t.Fatalf("EpochForOffset(%d) = %d, want %d", b.h.BaseOffset, e, we)
				}
			}
			checkLog(t, v.part("t", 1), want[1])
			if _, hw, _, _ := v.part("u", 0).Offsets(); hw != 0 {
				t.Fatalf("empty topic has hw %d", hw)
			}

			ofe := []struct {
				req   int32
				epoch int32
				end   int64
			}{
				{0, 0, 5},
				{1, 1, 8},
				{2, 1, 8}, // no data in epoch 2: the epoch before it and where the next starts
				{3, 3, 10},
				{4, 4, 10}, // current epoch, nothing written yet
				{5, -1, -1},
				{-1, -1, -1},
			}
			for _, c := range ofe {
				e, end := p.OffsetForLeaderEpoch(c.req)
				if e != c.epoch || end != c.end {
					t.Errorf("OffsetForLeaderEpoch(%d) = %d, %d; want %d, %d", c.req, e, end, c.epoch, c.end)
				}
			}
			if err := p.CheckEpoch(4); err != nil {
				t.Errorf("CheckEpoch(current) = %v", err)
			}
			if err := p.CheckEpoch(3); !errors.Is(err, engine.ErrFencedLeaderEpoch) {
				t.Errorf("CheckEpoch(old) = %v", err)
			}
			if err := p.CheckEpoch(5); !errors.Is(err, engine.ErrUnknownLeaderEpoch) {
				t.Errorf("CheckEpoch(future) = %v", err)
			}
			if tc := v.e.Topic("t"); !maps.Equal(tc.Configs, configs) {
				t.Errorf("topic configs after restart = %v, want %v", tc.Configs, configs)
			}

			// The cluster ID survives too, and new writes continue.
			id := v.e.ClusterID()
			want[0] = append(want[0], produceN(t, p, "e4", 1, 2, 400, 10)...)
			if tc.putFails {
				v.store.Clear()
				waitUploaded(t, p)
			}
			v.restart()
			if v.e.ClusterID() != id {
				t.Fatalf("cluster id changed across restart: %s -> %s", id, v.e.ClusterID())
			}
			checkLog(t, v.part("t", 0), want[0])
			if st := v.e.Stats(); tc.putFails && st.PendingBytes != 0 {
				t.Fatalf("pending bytes after upload and restart = %d", st.PendingBytes)
			}
		})
	}
}

func TestSetTopicConfigsSurviveRestart(t *testing.T) {
	v := newEnv(t, memWAL, nil)
	v.createTopic("t", 1, map[string]string{"a": "1"})
	ctx := context.Background()
	if err := v.e.SetTopicConfigs(ctx, "t", map[string]string{"retention.ms": "5"}); err != nil {
		t.Fatal(err)
	}
	if err := v.e.CreatePartitions(ctx, "t", 3); err != nil {
		t.Fatal(err)
	}
	want := produceN(t, v.part("t", 2), "x", 2, 1, 1, 0)
	v.restart()
	tp := v.e.Topic("t")
	if len(tp.Partitions) != 3 || !maps.Equal(tp.Configs, map[string]string{"retention.ms": "5"}) {
		t.Fatalf("after restart: %d partitions, configs %v", len(tp.Partitions), tp.Configs)
	}
	checkLog(t, tp.Partitions[2], want)
	if _, err := v.e.CreateTopic(ctx, "t", 1, nil, false); !errors.Is(err, engine.ErrTopicExists) {
		t.Fatalf("CreateTopic(existing) = %v", err)
	}
	if _, err := v.e.CreateTopic(ctx, "a.b", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.CreateTopic(ctx, "a_b", 1, nil, false); !errors.Is(err, engine.ErrTopicCollision) {
		t.Fatalf("CreateTopic(colliding) = %v", err)
	}
}

func TestWaitersWoken(t *testing.T) {
	v := newEnv(t, memWAL, nil)
	v.createTopic("t", 2, nil)
	p := v.part("t", 0)
	w := engine.NewWaiter()
	p.Watch(w)
	v.part("t", 1).Watch(w)
	select {
	case <-w.C():
		t.Fatal("waiter woken with nothing appended")
	default:
	}
	produceN(t, p, "a", 1, 1, 1, 0)
	select {
	case <-w.C():
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by an acknowledged append")
	}
	p.Unwatch(w)
	produceN(t, p, "b", 1, 1, 1, 0)
	select {
	case <-w.C():
		t.Fatal("unwatched partition woke the waiter")
	case <-time.After(20 * time.Millisecond):
	}
	if err := v.e.DeleteTopic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C():
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken when its partition was deleted")
	}
}

// TestReadAhead: reading a block from the object store loads the next
// block of the partition in the background, so a catch-up consumer's next
// fetch is served from memory: reading the partition block by block asks
// the store for each block exactly once.
func TestReadAhead(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.LogCacheBytes = 1
		c.MaxObjectBytes = 700 // one small block per object
	})
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	sent := produceN(t, p, "b", 6, 2, 1_700_000_000_000, 200)
	end := sent[len(sent)-1].base + int64(sent[len(sent)-1].n)
	waitUploaded(t, p)
	waitFor(t, 5*time.Second, "log cache eviction", func() bool { return v.e.Stats().CachedBytes == 0 })
	lasts := p.RangeLasts()
	blocks := int64(len(lasts))
	if blocks < 3 {
		t.Fatalf("%d ranges, want several", blocks)
	}
	ctx := context.Background()
	before := v.store.Calls(objstore.OpGetRange)
	gets := func() int64 { return v.store.Calls(objstore.OpGetRange) - before }
	for next := int64(0); next < end; {
		res, err := p.Read(ctx, next, 1) // one batch at a time
		if err != nil || len(res.Records) == 0 {
			t.Fatalf("read at %d: %v (%d bytes)", next, err, len(res.Records))
		}
		bs := decodeBatches(t, res.Records)
		last := bs[len(bs)-1].h.LastOffset()
		next = last + 1
		k := int64(sort.Search(len(lasts), func(i int) bool { return lasts[i] >= last }))
		// The block read and, read ahead, the next one; never more.
		want := min(k+2, blocks)
		waitFor(t, 5*time.Second, "read-ahead", func() bool { return gets() >= want })
		if got := gets(); got != want {
			t.Fatalf("after reading offset %d of block %d: %d GetRange calls, want %d (a block was read twice)", last, k, got, want)
		}
	}
}
