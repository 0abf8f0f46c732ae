package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objstore"
)

// idemBatch builds an idempotent batch of n records from producer pid at
// epoch with base sequence seq.
func idemBatch(tb testing.TB, pid int64, epoch int16, seq int32, n int, ts int64) ([]byte, batch.Header) {
	tb.Helper()
	var section []byte
	for i := range n {
		kr := kmsg.Record{OffsetDelta: int32(i), Value: fmt.Appendf(nil, "%d/%d/%d", pid, epoch, int(seq)+i)}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		section = kr.AppendTo(section)
	}
	kb := kmsg.RecordBatch{
		Length:               int32(batch.HeaderSize - 12 + len(section)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        seq,
		NumRecords:           int32(n),
		Records:              section,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	h, err := batch.Validate(b)
	if err != nil {
		tb.Fatalf("idemBatch: %v", err)
	}
	return b, h
}

// offer appends a batch and waits for its answer.
func offer(tb testing.TB, p *engine.Partition, raw []byte, h batch.Header) (*engine.Appended, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := p.Append(ctx, raw, h, false)
	if err != nil {
		return nil, err
	}
	return a, a.Wait(ctx)
}

type idemSent struct {
	pid  int64
	seq  int32
	n    int
	base int64
}

// TestIdempotentRecovery: producer state survives clean restarts and
// kill -9, whether it is rebuilt from the WAL alone, from uploaded objects,
// from snapshots, or from a snapshot plus what follows it: a retried batch
// is answered with its original offset, and sequences and epochs are
// still enforced.
func TestIdempotentRecovery(t *testing.T) {
	modes := []struct {
		name   string
		upload bool  // upload between batches
		snap   int64 // ProducerSnapshotBytes
	}{
		{"wal", false, 1 << 40},
		{"objects", true, 1 << 40},
		{"snapshots", true, 1},
		{"snapshot+objects", true, 1000}, // a snapshot at the third upload of four
	}
	for _, kind := range []string{memWAL, fileWAL} {
		for _, m := range modes {
			for _, how := range []string{"crash", "restart"} {
				t.Run(kind+"/"+m.name+"/"+how, func(t *testing.T) {
					testIdempotentRecovery(t, kind, m.upload, m.snap, how == "crash")
				})
			}
		}
	}
}

func testIdempotentRecovery(t *testing.T, kind string, upload bool, snapBytes int64, crash bool) {
	logs := &lockedBuffer{}
	v := newEnv(t, kind, func(c *engine.Config) {
		c.UploadInterval = time.Hour // uploads only when the test says
		c.ProducerSnapshotBytes = snapBytes
		c.ProducerSnapshotInterval = time.Hour
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	ctx := context.Background()
	var sent []idemSent
	seqs := map[int64]int32{}
	for i := range 24 {
		pid := int64(1 + i%3)
		n := 1 + i%4
		raw, h := idemBatch(t, pid, 0, seqs[pid], n, 1000)
		a, err := offer(t, p, raw, h)
		if err != nil || a.Duplicate {
			t.Fatalf("batch %d: %v (duplicate %v)", i, err, a != nil && a.Duplicate)
		}
		sent = append(sent, idemSent{pid: pid, seq: seqs[pid], n: n, base: a.BaseOffset})
		seqs[pid] += int32(n)
		if upload && i%5 == 4 && i < 20 {
			if _, err := v.e.UploadOnce(ctx); err != nil {
				t.Fatalf("upload: %v", err)
			}
		}
	}
	if crash {
		v.crash(nil)
	} else {
		v.restart()
	}
	p = v.part("t", 0)
	// The recovery path under test is the one taken (a clean restart
	// uploads everything first, so any path may serve it).
	loaded := logs.String()
	loaded = loaded[strings.LastIndex(loaded, "producer state loaded"):]
	switch {
	case !crash:
	case !upload && !strings.Contains(loaded, "snapshots=0 batches_replayed=0"),
		upload && snapBytes == 1 && !strings.Contains(loaded, "snapshots=1 batches_replayed=0"),
		upload && snapBytes > 1<<30 && !strings.Contains(loaded, "snapshots=0 batches_replayed=20"),
		upload && snapBytes == 1000 && (!strings.Contains(loaded, "snapshots=1") || strings.Contains(loaded, "batches_replayed=0")):
		t.Fatalf("unexpected recovery: %s", loaded)
	}
	// The last 5 batches of each producer are recognised as retries.
	for i, s := range sent {
		raw, h := idemBatch(t, s.pid, 0, s.seq, s.n, 1000)
		a, err := offer(t, p, raw, h)
		recent := i >= len(sent)-15 // 3 producers x 5 batches
		switch {
		case recent && (err != nil || !a.Duplicate || a.BaseOffset != s.base):
			t.Fatalf("retry of batch %d (producer %d seq %d at %d): err %v, answer %+v", i, s.pid, s.seq, s.base, err, a)
		case !recent && !errors.Is(err, engine.ErrOutOfOrderSequence):
			t.Fatalf("retry of old batch %d: err %v, want out of order", i, err)
		}
	}
	_, _, leo, _ := p.Offsets()
	// Sequences continue where they were.
	raw, h := idemBatch(t, 1, 0, seqs[1]+1, 1, 1000)
	if _, err := offer(t, p, raw, h); !errors.Is(err, engine.ErrOutOfOrderSequence) {
		t.Fatalf("gap after recovery: %v", err)
	}
	raw, h = idemBatch(t, 1, 0, seqs[1], 1, 1000)
	if a, err := offer(t, p, raw, h); err != nil || a.Duplicate || a.BaseOffset != leo {
		t.Fatalf("next batch after recovery: %v %+v, want base %d", err, a, leo)
	}
	// A bumped epoch fences the old one.
	raw, h = idemBatch(t, 2, 1, 0, 1, 1000)
	if _, err := offer(t, p, raw, h); err != nil {
		t.Fatalf("epoch bump: %v", err)
	}
	raw, h = idemBatch(t, 2, 0, seqs[2], 1, 1000)
	if _, err := offer(t, p, raw, h); !errors.Is(err, engine.ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after bump: %v", err)
	}
	// Everything the log holds was appended exactly once.
	got := readAll(t, p, 0, 1<<20)
	var values []string
	for _, b := range got {
		values = append(values, b.values...)
	}
	want := 0
	for _, s := range sent {
		want += s.n
	}
	if len(values) != want+2 {
		t.Fatalf("log holds %d records, want %d", len(values), want+2)
	}
	if snapBytes == 1 && upload {
		if n := len(snapKeys(t, v.store.Inner())); n == 0 {
			t.Fatal("no producer snapshot written")
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func snapKeys(tb testing.TB, s objstore.Store) []string {
	tb.Helper()
	var keys []string
	err := s.List(context.Background(), "snap/", func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		tb.Fatalf("list snapshots: %v", err)
	}
	return keys
}

// TestProducerSnapshotGC: each new snapshot makes the one it replaces
// garbage, deleted by garbage collection; snapshots of a deleted topic
// go too, and orphaned ones are swept.
func TestProducerSnapshotGC(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.UploadInterval = time.Hour
		c.ProducerSnapshotBytes = 1
	})
	v.createTopic("t", 2, nil)
	ctx := context.Background()
	for i := range 4 {
		for pi := int32(0); pi < 2; pi++ {
			raw, h := idemBatch(t, 7, 0, int32(i), 1, 1000)
			if _, err := offer(t, v.part("t", pi), raw, h); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := v.e.UploadOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := snapKeys(t, v.store.Inner()); len(keys) != 2 {
		t.Fatalf("after GC, snapshots %v, want one per partition", keys)
	}
	// An orphan (a crash between its PUT and the commit) is swept once
	// older than the grace period; the live ones stay.
	orphan := "snap/" + strings.Repeat("0", 32) + "/0000000000/00000000000000000001-orphan.snap"
	if err := v.store.Inner().Put(ctx, orphan, []byte("x")); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(2 * time.Hour)
	if err := v.e.SweepOrphans(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := snapKeys(t, v.store.Inner()); len(keys) != 2 || strings.Contains(strings.Join(keys, ","), "orphan") {
		t.Fatalf("after sweep, snapshots %v", keys)
	}
	if err := v.e.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := snapKeys(t, v.store.Inner()); len(keys) != 0 {
		t.Fatalf("after topic deletion, snapshots %v", keys)
	}
}

// TestProducerExpiry: an idle producer's state is dropped after
// producer.id.expiration.ms, judged by its last batch's timestamp.
func TestProducerExpiry(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) { c.ProducerIDExpiration = time.Hour })
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	now := v.clock.Now().UnixMilli()
	raw, h := idemBatch(t, 1, 0, 0, 1, now)
	if _, err := offer(t, p, raw, h); err != nil {
		t.Fatal(err)
	}
	raw, h = idemBatch(t, 2, 0, 0, 1, now+int64(time.Hour/time.Millisecond))
	if _, err := offer(t, p, raw, h); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(time.Hour + time.Millisecond)
	v.e.ExpireProducers()
	ps := p.Producers()
	if len(ps) != 1 || ps[0].ProducerID != 2 {
		t.Fatalf("after expiry: %+v", ps)
	}
	// An expired producer is unknown: any sequence is accepted again.
	raw, h = idemBatch(t, 1, 0, 7, 1, now)
	if _, err := offer(t, p, raw, h); err != nil {
		t.Fatalf("expired producer: %v", err)
	}
}

// TestDuplicateOfInflightBatch: a retry arriving before the original is
// durable is answered only once the original is, with its offset.
func TestDuplicateOfInflightBatch(t *testing.T) {
	v := newEnv(t, fileWAL, nil)
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	raw, h := idemBatch(t, 1, 0, 0, 3, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := p.Append(ctx, raw, h, false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Append(ctx, raw, h, false)
	if err != nil || !d.Duplicate || d.BaseOffset != a.BaseOffset {
		t.Fatalf("retry: %v %+v", err, d)
	}
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.Acked() {
		t.Fatal("duplicate answered before the original was durable")
	}
}

func TestReserveProducerIDs(t *testing.T) {
	kv := meta.NewMemory()
	ctx := context.Background()
	seen := map[int64]bool{}
	type res struct {
		first int64
		err   error
	}
	ch := make(chan res)
	for range 8 {
		go func() {
			f, err := meta.Reserve(ctx, kv, "ids", 10)
			ch <- res{f, err}
		}()
	}
	for range 8 {
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.first%10 != 0 || seen[r.first] {
			t.Fatalf("block %d reserved twice or misaligned", r.first)
		}
		seen[r.first] = true
	}
	// Engine ids never repeat across restarts.
	v := newEnv(t, memWAL, nil)
	ids := map[int64]bool{}
	for round := range 3 {
		for range 5 {
			id, err := v.e.NewProducerID(ctx)
			if err != nil || ids[id] {
				t.Fatalf("round %d: id %d (err %v) repeats", round, id, err)
			}
			ids[id] = true
		}
		v.crash(nil)
	}
}

// TestProducerSnapshotPutFails: a snapshot that cannot be written costs
// only a longer replay; recovery after kill -9 still knows every producer.
func TestProducerSnapshotPutFails(t *testing.T) {
	v := newEnv(t, fileWAL, func(c *engine.Config) {
		c.UploadInterval = time.Hour
		c.ProducerSnapshotBytes = 1
	})
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	ctx := context.Background()
	put := func(seq int32) int64 {
		raw, h := idemBatch(t, 9, 0, seq, 2, 1000)
		a, err := offer(t, p, raw, h)
		if err != nil {
			t.Fatal(err)
		}
		return a.BaseOffset
	}
	put(0)
	if _, err := v.e.UploadOnce(ctx); err != nil {
		t.Fatal(err)
	}
	v.store.SetHook(func(op objstore.Op, key string) error {
		if op == objstore.OpPut && strings.HasPrefix(key, "snap/") {
			return errors.New("injected snapshot put failure")
		}
		return nil
	})
	put(2)
	base := put(4)
	if _, err := v.e.UploadOnce(ctx); err != nil {
		t.Fatalf("upload with failing snapshots: %v", err)
	}
	v.store.SetHook(nil)
	v.crash(nil)
	p = v.part("t", 0)
	raw, h := idemBatch(t, 9, 0, 4, 2, 1000)
	if a, err := offer(t, p, raw, h); err != nil || !a.Duplicate || a.BaseOffset != base {
		t.Fatalf("retry after recovery: %v %+v, want duplicate at %d", err, a, base)
	}
	raw, h = idemBatch(t, 9, 0, 6, 1, 1000)
	if a, err := offer(t, p, raw, h); err != nil || a.Duplicate {
		t.Fatalf("next batch: %v %+v", err, a)
	}
}

// TestIdempotentRandomized runs random scripts of produces, retries of
// recent batches, uploads (with snapshots now and then), clean restarts
// and crashes against a model: a retry of any of a producer's last 5
// batches is always a duplicate at its original offset, an older one is
// out of order, the next sequence is always accepted, and the log holds
// every acknowledged batch exactly once.
func TestIdempotentRandomized(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			snap := []int64{1, 400, 1 << 40}[seed%3]
			kind := []string{memWAL, fileWAL}[seed%2]
			v := newEnv(t, kind, func(c *engine.Config) {
				c.UploadInterval = time.Hour
				c.ProducerSnapshotBytes = snap
			})
			v.createTopic("t", 1, nil)
			ctx := context.Background()
			acked := map[int64][]idemSent{}
			next := map[int64]int32{}
			total := 0
			for step := range 300 {
				p := v.part("t", 0)
				pid := int64(rng.IntN(3))
				switch r := rng.IntN(100); {
				case r < 55:
					n := 1 + rng.IntN(3)
					raw, h := idemBatch(t, pid, 0, next[pid], n, 1000)
					a, err := offer(t, p, raw, h)
					if err != nil || a.Duplicate {
						t.Fatalf("step %d: producer %d seq %d: %v %+v", step, pid, next[pid], err, a)
					}
					acked[pid] = append(acked[pid], idemSent{pid: pid, seq: next[pid], n: n, base: a.BaseOffset})
					next[pid] += int32(n)
					total += n
				case r < 80:
					hist := acked[pid]
					if len(hist) == 0 {
						continue
					}
					i := len(hist) - 1 - rng.IntN(min(len(hist), 6))
					s := hist[i]
					raw, h := idemBatch(t, pid, 0, s.seq, s.n, 1000)
					a, err := offer(t, p, raw, h)
					if i >= len(hist)-5 {
						if err != nil || !a.Duplicate || a.BaseOffset != s.base {
							t.Fatalf("step %d: retry of producer %d batch %d (seq %d at %d): %v %+v", step, pid, i, s.seq, s.base, err, a)
						}
					} else if !errors.Is(err, engine.ErrOutOfOrderSequence) {
						t.Fatalf("step %d: retry of old batch: %v", step, err)
					}
				case r < 92:
					if _, err := v.e.UploadOnce(ctx); err != nil {
						t.Fatalf("step %d: upload: %v", step, err)
					}
				case r < 97:
					v.crash(nil)
				default:
					v.restart()
				}
			}
			v.crash(nil)
			got := readAll(t, v.part("t", 0), 0, 1<<20)
			seen := map[string]bool{}
			for _, b := range got {
				for _, val := range b.values {
					if seen[val] {
						t.Fatalf("record %s twice in the log", val)
					}
					seen[val] = true
				}
			}
			if len(seen) != total {
				t.Fatalf("log holds %d records, %d acknowledged", len(seen), total)
			}
		})
	}
}
