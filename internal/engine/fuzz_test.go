package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// withEntries returns a fresh Memory WAL holding what m holds plus entries,
// as if they had been appended before a restart.
func withEntries(tb testing.TB, m *wal.Memory, entries ...[]byte) *wal.Memory {
	tb.Helper()
	w := m.Reopen()
	done := make(chan error, len(entries))
	for _, e := range entries {
		if _, err := w.Append(e, func(err error) { done <- err }); err != nil {
			tb.Fatal(err)
		}
	}
	for range entries {
		if err := <-done; err != nil {
			tb.Fatal(err)
		}
	}
	out := w.Reopen()
	_ = w.Close()
	return out
}

func walEntry(id engine.TopicID, partition, epoch int32, raw []byte) []byte {
	return engine.EncodeWALEntry(id, partition, epoch, raw)
}

// FuzzWALReplayEntry feeds arbitrary bytes to the WAL entry decoder and,
// as a WAL entry, to a full engine replay (once as given, once aimed at an
// existing partition): Open may fail, but nothing may panic, and what it
// accepts must be servable.
func FuzzWALReplayEntry(f *testing.F) {
	valid, _ := idBatch(f, "seed", 2, 1000, 5)
	at := func(off int64, epoch int32) []byte {
		b := bytes.Clone(valid)
		batch.SetBaseOffset(b, off)
		batch.SetLeaderEpoch(b, epoch)
		return b
	}
	var zero engine.TopicID
	f.Add(walEntry(zero, 0, 0, at(1, 0)))  // the next offset
	f.Add(walEntry(zero, 1, 0, at(0, 0)))  // another partition
	f.Add(walEntry(zero, 0, 0, at(0, 0)))  // already uploaded: skipped
	f.Add(walEntry(zero, 0, 3, at(7, 3)))  // a gap
	f.Add(walEntry(zero, 2, 0, at(0, 0)))  // no such partition
	f.Add(walEntry(zero, -1, 0, at(0, 0))) // negative partition
	neg := at(1, 0)
	binary.BigEndian.PutUint32(neg[23:], 0xffffffff) // lastOffsetDelta -1
	f.Add(walEntry(zero, 0, 0, neg))
	short := at(1, 0)
	binary.BigEndian.PutUint32(short[8:], 49) // batch length shorter than the bytes
	f.Add(walEntry(zero, 0, 0, short))
	f.Add(walEntry(zero, 0, 0, append(at(1, 0), at(3, 0)...))) // two batches in one entry
	f.Add(walEntry(zero, 0, 0, at(1, 0)[:40]))
	idem, _ := idemBatch(f, 5, 0, 0, 2, 1000) // a producer id: replay rebuilds its state
	batch.SetBaseOffset(idem, 1)
	f.Add(walEntry(zero, 0, 0, idem))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0})
	f.Add(bytes.Repeat([]byte{1}, engine.WALEntryHeader))

	f.Fuzz(func(t *testing.T, data []byte) {
		id, part, epoch, raw, err := engine.DecodeWALEntry(data)
		if err == nil {
			if !bytes.Equal(raw, data[engine.WALEntryHeader:]) {
				t.Fatal("decoded batch is not the entry's tail")
			}
			if re := engine.EncodeWALEntry(id, part, epoch, raw); !bytes.Equal(re, data) {
				t.Fatalf("re-encoding gives %x, want %x", re, data)
			}
		} else if len(data) >= engine.WALEntryHeader && data[0] == 1 {
			t.Fatalf("well-formed header rejected: %v", err)
		}

		// An engine with topic t (2 partitions), offset 0 of partition 0
		// uploaded, nothing pending.
		kv, store, m := meta.NewMemory(), objstore.NewMemory(), wal.NewMemory()
		cfg := engine.Config{Logger: quiet, WAL: m, Store: store, Meta: kv, UploadInterval: time.Hour,
			RetentionCheckInterval: time.Hour, GCInterval: time.Hour, OrphanSweepInterval: time.Hour, LogCacheBytes: 1}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e, err := engine.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := e.CreateTopic(ctx, "t", 2, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		produce(t, tp.Partitions[0], valid, mustHeader(t, valid))
		if err := e.Close(ctx); err != nil {
			t.Fatal(err)
		}
		_ = m.Close()

		aimed := bytes.Clone(data)
		if len(aimed) >= engine.WALEntryHeader {
			aimed[0] = 1
			copy(aimed[1:17], tp.ID[:])
			binary.BigEndian.PutUint32(aimed[17:], uint32(data[17]%3))
		}
		for _, entry := range [][]byte{data, aimed} {
			cfg.WAL = withEntries(t, m, entry)
			e, err := engine.Open(ctx, cfg)
			if err != nil {
				_ = cfg.WAL.Close()
				continue // refusing a bad WAL is fine
			}
			exercise(t, ctx, e)
			_ = e.Close(ctx)
			_ = cfg.WAL.Close()
		}
	})
}

func mustHeader(tb testing.TB, raw []byte) batch.Header {
	tb.Helper()
	h, err := batch.Validate(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// exercise reads every partition in several ways and uploads; errors are
// fine, panics and hangs are not.
func exercise(t *testing.T, ctx context.Context, e *engine.Engine) {
	for _, tp := range e.Topics() {
		for _, p := range tp.Partitions {
			ls, hw, _, _ := p.Offsets()
			for _, mb := range []int{1, 1 << 20} {
				for off := ls; off < hw && off < ls+8; off++ {
					_, _ = p.Read(ctx, off, mb)
				}
			}
			_, _, _, _ = p.OffsetForTimestamp(ctx, 0)
			_, _, _, _ = p.MaxTimestamp(ctx)
			p.OffsetForLeaderEpoch(0)
		}
	}
	_, _ = e.UploadOnce(ctx)
	for _, tp := range e.Topics() {
		for _, p := range tp.Partitions {
			ls, hw, _, _ := p.Offsets()
			for off := ls; off < hw && off < ls+8; off++ {
				_, _ = p.Read(ctx, off, 1)
			}
			_, _, _, _ = p.MaxTimestamp(ctx)
		}
	}
}

// inflight is an append whose acknowledgement has not been seen yet.
type inflight struct {
	part int
	s    sent
	a    *engine.Appended
}

// FuzzRecovery drives an engine on memory storage through a random
// sequence of appends, uploads (some failing at PUT, at commit, or losing
// the commit's reply), crashes, clean restarts, lost WAL trims, garbage
// collection and DeleteRecords, and checks after every restart and at the
// end that acknowledged data is never lost or duplicated.
func FuzzRecovery(f *testing.F) {
	f.Add([]byte{0, 0, 16, 4, 8, 0, 32, 9})
	f.Add([]byte{0, 3, 3, 19, 8, 0, 4, 11, 8})
	f.Add([]byte{1, 0, 0, 0, 5, 6, 7, 8, 4, 8, 11})
	f.Add([]byte{0, 10, 0, 16, 4, 8, 0, 4, 8, 9, 0})
	f.Add([]byte{0, 0, 7, 0, 7, 4, 8, 11, 8})
	f.Add([]byte{1, 0, 16, 32, 4, 0, 12, 3, 8, 4, 9, 12, 8})
	f.Add([]byte{0, 3, 4, 3, 9, 3, 6, 8, 13, 4, 8})
	f.Add([]byte{1, 0, 0, 16, 16, 32, 32, 4, 10, 0, 0, 4, 8, 6, 0, 5, 7, 8, 11, 9})
	// Found by fuzzing: DeleteRecords after a commit whose reply was lost
	// (the cached state revision is stale).
	f.Add([]byte("\x01\x00\x10108\f000000"))
	// Found by fuzzing: many small objects to drain (MaxObjectBytes 300).
	f.Add([]byte("\xb5\"000\f00\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d\x1d@\xff\xff\xff\x800\"0"))

	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 || len(ops) > 96 {
			return
		}
		v := newEnv(t, memWAL, func(c *engine.Config) {
			explicitUploads(c)
			if ops[0]&1 == 1 {
				c.MaxObjectBytes = 300 // uploads take a few batches at a time
			}
		})
		v.createTopic("t", 2, nil)
		v.createTopic("u", 1, nil)
		parts := func() []*engine.Partition {
			return []*engine.Partition{v.part("t", 0), v.part("t", 1), v.part("u", 0)}
		}
		acked := make([][]sent, 3)
		var pending []inflight
		seq := 0
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		check := func(stage string) {
			t.Helper()
			for i, p := range parts() {
				if _, hw, leo, _ := p.Offsets(); hw != leo {
					t.Fatalf("%s: %s hw %d != leo %d with nothing in flight", stage, p, hw, leo)
				}
				checkLog(t, p, acked[i])
			}
		}
		// settle moves every in-flight append that is acknowledged now to
		// acked, and forgets the others (after a crash their fate is open).
		settle := func() {
			for _, in := range pending {
				if in.a.Acked() {
					acked[in.part] = append(acked[in.part], in.s)
				}
			}
			pending = nil
		}
		waitAll := func() {
			for _, in := range pending {
				if err := in.a.Wait(ctx); err != nil {
					t.Fatalf("in-flight append: %v", err)
				}
			}
			settle()
		}
		appendOne := func(pi, n int, wait bool) {
			p := parts()[pi]
			id := fmt.Sprintf("b%d", seq)
			seq++
			raw, h := idBatch(t, id, n, int64(seq), 20)
			a, err := p.Append(ctx, raw, h, false)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			in := inflight{part: pi, s: sent{id: id, base: a.BaseOffset, n: n}, a: a}
			if wait {
				if err := a.Wait(ctx); err != nil {
					t.Fatalf("wait: %v", err)
				}
				acked[pi] = append(acked[pi], in.s)
				return
			}
			pending = append(pending, in)
		}

		for _, op := range ops[1:] {
			arg := int(op >> 4)
			switch op % 14 {
			case 0, 1, 2:
				appendOne(arg%3, 1+arg%3, true)
			case 3:
				appendOne(arg%3, 1+arg/3%3, false)
			case 4:
				_, _ = v.e.UploadOnce(ctx)
			case 5:
				v.store.FailN(objstore.OpPut, 1, errPut)
				_, _ = v.e.UploadOnce(ctx)
				v.store.Clear()
			case 6:
				v.kv.MatchTxns(isCommitTxn)
				v.kv.FailTxns(1)
				_, _ = v.e.UploadOnce(ctx)
				v.kv.Heal()
			case 7:
				v.kv.MatchTxns(isCommitTxn)
				v.kv.LoseTxnReplies(1)
				_, _ = v.e.UploadOnce(ctx)
				v.kv.Heal()
			case 8:
				v.crash(settle)
				check("after crash")
			case 9:
				waitAll()
				v.restart()
				check("after restart")
			case 10:
				v.noTrim.Store(!v.noTrim.Load())
			case 11:
				if err := v.e.CollectGarbage(ctx); err != nil {
					t.Fatalf("gc: %v", err)
				}
				v.clock.Advance(2 * time.Hour)
				if err := v.e.SweepOrphans(ctx); err != nil {
					t.Fatalf("sweep: %v", err)
				}
			case 12:
				waitAll()
				p := parts()[arg%3]
				ls, hw, _, _ := p.Offsets()
				to := ls + (hw-ls)/2
				if arg&8 != 0 {
					to = -1
				}
				if _, err := v.e.DeleteRecords(ctx, p, to); err != nil {
					t.Fatalf("DeleteRecords(%d): %v", to, err)
				}
			case 13:
				waitAll()
				check("checkpoint")
			}
		}
		waitAll()
		check("end")
		for range 1000 {
			if v.e.Stats().PendingBytes == 0 {
				break
			}
			if n, err := v.e.UploadOnce(ctx); n == 0 && err == nil {
				break // nothing uploadable
			}
		}
		if pb := v.e.Stats().PendingBytes; pb != 0 {
			t.Fatalf("%d bytes still pending after healthy uploads", pb)
		}
		if err := v.e.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
		v.clock.Advance(2 * time.Hour)
		if err := v.e.SweepOrphans(ctx); err != nil {
			t.Fatal(err)
		}
		v.crash(nil)
		check("final crash")
		if left := unreferenced(t, v); len(left) != 0 {
			t.Fatalf("unreferenced objects left after gc and sweep: %v", left)
		}
	})
}
