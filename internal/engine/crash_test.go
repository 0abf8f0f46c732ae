package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// TestCrashRecovery kills the engine (no Close) while producers run and
// uploads happen, several times over, and checks after each restart that
// every batch whose Wait returned nil before the crash is readable at its
// offset, exactly once.
func TestCrashRecovery(t *testing.T) {
	for _, kind := range []string{memWAL, fileWAL} {
		t.Run(kind, func(t *testing.T) {
			v := newEnv(t, kind, func(c *engine.Config) {
				c.UploadInterval = 5 * time.Millisecond
				c.UploadBytes = 4 << 10
				c.LogCacheBytes = 2 << 10
			})
			v.createTopic("a", 3, nil)
			v.createTopic("b", 1, nil)
			parts := []struct {
				topic string
				i     int32
			}{{"a", 0}, {"a", 1}, {"a", 2}, {"b", 0}}

			acked := map[string][]sent{}
			for round := range 4 {
				var log ackLog
				var stop atomic.Bool
				var wg sync.WaitGroup
				for g := range 6 {
					pp := parts[g%len(parts)]
					p := v.part(pp.topic, pp.i)
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; !stop.Load(); i++ {
							id := fmt.Sprintf("r%d-g%d-%d", round, g, i)
							raw, h := idBatch(t, id, 1+i%3, int64(i), 30)
							ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
							a, err := p.Append(ctx, raw, h, false)
							if err == nil {
								if err = a.Wait(ctx); err == nil {
									log.add(p, sent{id: id, base: a.BaseOffset, n: 1 + i%3})
								}
							}
							cancel()
							if err != nil {
								return // the engine died under us
							}
						}
					}()
				}
				// Crash once every partition has acknowledged batches and
				// uploads have had time to run.
				time.Sleep(30 * time.Millisecond)
				waitFor(t, 10*time.Second, "acknowledged batches", func() bool {
					snap := log.snapshot()
					for _, pp := range parts {
						if len(snap[v.part(pp.topic, pp.i).String()]) < 3 {
							return false
						}
					}
					return true
				})
				var snap map[string][]sent
				v.crash(func() { snap = log.snapshot() })
				stop.Store(true)
				wg.Wait()

				n := 0
				for k, s := range snap {
					acked[k] = append(acked[k], s...)
					n += len(s)
				}
				if n == 0 {
					t.Fatalf("round %d: nothing acknowledged before the crash", round)
				}
				for _, pp := range parts {
					p := v.part(pp.topic, pp.i)
					checkLog(t, p, acked[p.String()])
					if e := p.Epoch(); e != int32(round+1) {
						t.Fatalf("%s: epoch %d after %d crashes", p, e, round+1)
					}
				}
			}
			// A clean restart after all that loses nothing either, and
			// eventually everything is in objects.
			for _, pp := range parts {
				waitUploaded(t, v.part(pp.topic, pp.i))
			}
			v.restart()
			for _, pp := range parts {
				p := v.part(pp.topic, pp.i)
				checkLog(t, p, acked[p.String()])
			}
		})
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"fsync-fails", testFsyncFails},
		{"torn-wal-write", testTornWrite},
		{"put-fails", testPutFails},
		{"slow-put-backpressure", testBackPressure},
		{"crash-between-put-and-commit", testCrashBeforeCommit},
		{"commit-reply-lost", testCommitReplyLost},
		{"commit-reply-lost-then-delete-records", testCommitReplyLostDeleteRecords},
		{"crash-between-commit-and-trim", testCrashBeforeTrim},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// testFsyncFails: a failed fsync fails the batch with ErrStorage, never
// acks it, fails later appends, and loses nothing acknowledged.
func testFsyncFails(t *testing.T) {
	v := newEnv(t, fileWAL, func(c *engine.Config) { c.UploadInterval = time.Hour })
	v.createTopic("t", 2, nil)
	p := v.part("t", 0)
	want := produceN(t, p, "ok", 4, 2, 1, 20)
	want1 := produceN(t, v.part("t", 1), "ok1", 2, 1, 1, 20)
	_, hwBefore, _, _ := p.Offsets()

	v.ffs.FailAfter(wal.OpSync, 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, h := idBatch(t, "failed", 2, 1, 20)
	a, err := p.Append(ctx, raw, h, false)
	if err != nil {
		t.Fatalf("Append before the failure is known: %v", err)
	}
	err = a.Wait(ctx)
	if !errors.Is(err, engine.ErrStorage) {
		t.Fatalf("Wait = %v, want ErrStorage", err)
	}
	if err2 := a.Wait(ctx); !errors.Is(err2, engine.ErrStorage) {
		t.Fatalf("second Wait = %v", err2)
	}
	if _, hw, _, _ := p.Offsets(); hw != hwBefore {
		t.Fatalf("hw moved from %d to %d for a batch that failed", hwBefore, hw)
	}
	if res, err := p.Read(ctx, a.BaseOffset, 1<<20); err != nil || len(res.Records) != 0 {
		t.Fatalf("the failed batch is readable: %d bytes, %v", len(res.Records), err)
	}
	// Every later append fails, on every partition.
	for _, q := range []*engine.Partition{p, v.part("t", 1)} {
		raw, h := idBatch(t, "later", 1, 1, 0)
		a, err := q.Append(ctx, raw, h, false)
		if err == nil {
			err = a.Wait(ctx)
		}
		if !errors.Is(err, engine.ErrStorage) {
			t.Fatalf("append to %s after fsync failure = %v, want ErrStorage", q, err)
		}
	}
	checkLog(t, p, want)

	// Restart on a healthy disk: nothing acknowledged is lost; the failed
	// batch may or may not be there (its write may have reached the disk).
	v.restart()
	p = v.part("t", 0)
	got := checkLog(t, p, want)
	checkLog(t, v.part("t", 1), want1)
	if n := len(got); n != len(want) && !(n == len(want)+1 && got[n-1].id == "failed") {
		t.Fatalf("after restart read %d batches, want %d (+ maybe the failed one)", n, len(want))
	}
	want = append(want, produceN(t, p, "after", 2, 1, 1, 20)...)
	checkLog(t, p, want)
}

// testTornWrite: a crash in the middle of a WAL write leaves a torn
// frame, which was never acknowledged; recovery cuts it and the log goes
// on from the last acknowledged batch.
func testTornWrite(t *testing.T) {
	v := newEnv(t, fileWAL, func(c *engine.Config) { c.UploadInterval = time.Hour })
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	want := produceN(t, p, "ok", 5, 2, 1, 40)
	v.ffs.TearNextWrite(30)
	raw, h := idBatch(t, "torn", 2, 1, 40)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := p.Append(ctx, raw, h, false)
	if err == nil {
		err = a.Wait(ctx)
	}
	if !errors.Is(err, engine.ErrStorage) {
		t.Fatalf("torn write: %v, want ErrStorage", err)
	}
	v.crash(nil)
	p = v.part("t", 0)
	got := checkLog(t, p, want)
	if len(got) != len(want) {
		t.Fatalf("read %d batches after recovery, want %d", len(got), len(want))
	}
	next := produceN(t, p, "next", 1, 1, 1, 0)
	if next[0].base != 10 {
		t.Fatalf("next offset after a torn write %d, want 10", next[0].base)
	}
	checkLog(t, p, append(want, next...))
}

// testPutFails: with PUT failing, produce still acks (the WAL has it),
// pending grows, reads come from the tail and the WAL is not trimmed past
// the data; once PUT heals, uploads resume and pending drains.
func testPutFails(t *testing.T) {
	v := newEnv(t, fileWAL, func(c *engine.Config) { c.LogCacheBytes = 1 })
	v.createTopic("t", 2, nil)
	p := v.part("t", 0)
	// Some data uploaded first, so the WAL has something to trim.
	want := produceN(t, p, "before", 3, 1, 1, 100)
	waitUploaded(t, p)
	waitFor(t, 5*time.Second, "trim after upload", func() bool { return v.maxTrim.Load() > 3 })
	firstSeq := v.e.Stats().LastWALSeq + 1

	v.store.Fail(objstore.OpPut, errPut)
	putsBefore := v.store.Calls(objstore.OpPut)
	more := produceN(t, p, "during", 20, 2, 1, 300)
	want = append(want, more...)
	want1 := produceN(t, v.part("t", 1), "during1", 5, 1, 1, 300)
	waitFor(t, 5*time.Second, "failed upload attempts", func() bool { return v.store.Calls(objstore.OpPut) > putsBefore })
	st := v.e.Stats()
	if st.PendingBytes < 20*300 {
		t.Fatalf("pending bytes %d while uploads fail, want at least %d", st.PendingBytes, 20*300)
	}
	if up := p.UploadedEnd(); up != 3 {
		t.Fatalf("uploaded end moved to %d while PUT fails", up)
	}
	gets := v.store.Calls(objstore.OpGetRange)
	got := readAll(t, p, more[0].base, 1<<20)
	if len(got) != len(more) {
		t.Fatalf("read %d pending batches from the tail, want %d", len(got), len(more))
	}
	if v.store.Calls(objstore.OpGetRange) != gets {
		t.Fatal("reads of pending data went to the object store")
	}
	if mt := v.maxTrim.Load(); mt > firstSeq {
		t.Fatalf("WAL trimmed up to %d while data from seq %d is not uploaded", mt, firstSeq)
	}

	v.store.Clear()
	waitUploaded(t, p)
	waitUploaded(t, v.part("t", 1))
	waitFor(t, 10*time.Second, "pending to drain", func() bool { return v.e.Stats().PendingBytes == 0 })
	waitFor(t, 5*time.Second, "trim after commit", func() bool { return v.maxTrim.Load() > v.e.Stats().LastWALSeq })
	checkLog(t, p, want)
	checkLog(t, v.part("t", 1), want1)
	v.restart()
	if st := v.e.Stats(); st.PendingBytes != 0 {
		t.Fatalf("after restart %d bytes pending, want 0 (all committed)", st.PendingBytes)
	}
	checkLog(t, v.part("t", 0), want)
}

// testBackPressure: with PUT slow and a small MaxPendingBytes, Append
// blocks and fails with ErrTimeout when its context ends; memory stays
// bounded; producing resumes once uploads keep up.
func testBackPressure(t *testing.T) {
	const maxPending = 4 << 10
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.MaxPendingBytes = maxPending
		c.UploadBytes = 1 << 10
		c.LogCacheBytes = 1
	})
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	v.store.SetDelay(objstore.OpPut, 400*time.Millisecond)

	var want []sent
	var timedOut bool
	for i := 0; i < 100 && !timedOut; i++ {
		id := fmt.Sprintf("bp-%d", i)
		raw, h := idBatch(t, id, 1, 1, 500)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		start := time.Now()
		a, err := p.Append(ctx, raw, h, false)
		switch {
		case errors.Is(err, engine.ErrTimeout):
			timedOut = true
			if d := time.Since(start); d < 25*time.Millisecond {
				t.Fatalf("Append gave up after %v, before its context ended", d)
			}
		case err != nil:
			t.Fatalf("Append: %v", err)
		default:
			if err := a.Wait(ctx); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			want = append(want, sent{id: id, base: a.BaseOffset, n: 1})
		}
		cancel()
		if pb := v.e.Stats().PendingBytes; pb > maxPending+int64(len(raw)) {
			t.Fatalf("pending bytes %d beyond the limit %d + one batch", pb, maxPending)
		}
	}
	if !timedOut {
		t.Fatal("Append never blocked on back-pressure")
	}
	if len(want) == 0 {
		t.Fatal("nothing was accepted before back-pressure")
	}

	// Once uploads are fast again, a blocked Append gets room and succeeds.
	v.store.SetDelay(objstore.OpPut, 0)
	for i := range 30 {
		id := fmt.Sprintf("after-%d", i)
		raw, h := idBatch(t, id, 1, 1, 500)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := p.Append(ctx, raw, h, false)
		if err == nil {
			err = a.Wait(ctx)
		}
		cancel()
		if err != nil {
			t.Fatalf("append %d once uploads keep up: %v", i, err)
		}
		want = append(want, sent{id: id, base: a.BaseOffset, n: 1})
		if pb := v.e.Stats().PendingBytes; pb > maxPending+int64(len(raw)) {
			t.Fatalf("pending bytes %d beyond the limit %d + one batch", pb, maxPending)
		}
	}
	waitUploaded(t, p)
	checkLog(t, p, want)
}

// testCrashBeforeCommit: the object is PUT but its commit fails, then the
// broker dies. After restart the data comes back from the WAL and is
// uploaded again; the orphan object is swept once older than OrphanGrace,
// and nothing referenced is.
func testCrashBeforeCommit(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.LogCacheBytes = 1
		c.BlockCacheBytes = 1
	})
	v.createTopic("t", 2, nil)
	v.createTopic("u", 1, nil)
	// Committed data first, which the sweep must leave alone.
	want := produceN(t, v.part("t", 0), "committed", 3, 1, 1, 50)
	waitUploaded(t, v.part("t", 0))

	waitFor(t, 5*time.Second, "trim after upload", func() bool { return v.maxTrim.Load() > v.e.Stats().LastWALSeq })
	v.kv.MatchTxns(isCommitTxn)
	v.kv.FailTxns(1 << 30)
	putsBefore := v.store.Calls(objstore.OpPut)
	firstSeq := v.e.Stats().LastWALSeq + 1
	want = append(want, produceN(t, v.part("t", 0), "orphaned", 4, 2, 1, 50)...)
	wantU := produceN(t, v.part("u", 0), "orphaned-u", 2, 1, 1, 50)
	waitFor(t, 5*time.Second, "a PUT whose commit fails", func() bool { return v.store.Calls(objstore.OpPut) > putsBefore+1 })
	if mt := v.maxTrim.Load(); mt > firstSeq {
		t.Fatalf("WAL trimmed up to %d though the commit of seq %d on failed", mt, firstSeq)
	}
	v.crash(nil)
	v.kv.Heal()

	orphans := unreferenced(t, v)
	if len(orphans) == 0 {
		t.Fatal("no orphan object after a crash between PUT and commit")
	}
	p := v.part("t", 0)
	checkLog(t, p, want) // from the WAL replay
	waitUploaded(t, p)
	waitUploaded(t, v.part("u", 0))
	waitFor(t, 5*time.Second, "pending to drain", func() bool { return v.e.Stats().PendingBytes == 0 })

	ctx := context.Background()
	if err := v.e.SweepOrphans(ctx); err != nil {
		t.Fatal(err)
	}
	if left := unreferenced(t, v); len(left) < len(orphans) {
		t.Fatalf("orphans swept before the grace period: %d -> %d", len(orphans), len(left))
	}
	v.clock.Advance(2 * time.Hour)
	if err := v.e.SweepOrphans(ctx); err != nil {
		t.Fatal(err)
	}
	if left := unreferenced(t, v); len(left) != 0 {
		t.Fatalf("orphans left after the grace period: %v", left)
	}
	// Every read goes to the store (no block cache): referenced objects
	// survived the sweep.
	checkLog(t, p, want)
	checkLog(t, v.part("u", 0), wantU)
	v.restart()
	checkLog(t, v.part("t", 0), want)
}

// unreferenced lists objects in the store that no committed range names.
func unreferenced(t *testing.T, v *env) []string {
	t.Helper()
	refs := map[string]bool{}
	for _, tp := range v.e.Topics() {
		for _, p := range tp.Partitions {
			for _, k := range p.RangeKeys() {
				refs[k] = true
			}
		}
	}
	var out []string
	for _, k := range storeKeys(t, v.store.Inner()) {
		if !refs[k] {
			out = append(out, k)
		}
	}
	return out
}

// testCommitReplyLost: the commit is applied but its reply is lost. The
// engine must adopt what it committed rather than commit it again.
func testCommitReplyLost(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.LogCacheBytes = 1
		c.BlockCacheBytes = 1
		c.UploadInterval = time.Hour
	})
	v.createTopic("t", 2, nil)
	ctx := context.Background()
	want := produceN(t, v.part("t", 0), "x", 5, 1, 1, 10)
	want1 := produceN(t, v.part("t", 1), "y", 2, 1, 1, 10)
	v.kv.MatchTxns(isCommitTxn)
	v.kv.LoseTxnReplies(1)
	if _, err := v.e.UploadOnce(ctx); err == nil {
		t.Fatal("UploadOnce with a lost commit reply succeeded")
	}
	want = append(want, produceN(t, v.part("t", 0), "z", 2, 1, 1, 10)...)
	for range 5 {
		_, _ = v.e.UploadOnce(ctx)
	}
	p := v.part("t", 0)
	if _, hw, _, _ := p.Offsets(); p.UploadedEnd() != hw {
		t.Fatalf("uploaded end %d, hw %d", p.UploadedEnd(), hw)
	}
	if pb := v.e.Stats().PendingBytes; pb != 0 {
		t.Fatalf("pending %d after uploads", pb)
	}
	checkLog(t, p, want)
	checkLog(t, v.part("t", 1), want1)
	if err := v.e.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	v.clock.Advance(2 * time.Hour)
	if err := v.e.SweepOrphans(ctx); err != nil {
		t.Fatal(err)
	}
	if left := unreferenced(t, v); len(left) != 0 {
		t.Fatalf("unreferenced objects left: %v", left)
	}
	checkLog(t, p, want)
	v.restart()
	checkLog(t, v.part("t", 0), want)
	checkLog(t, v.part("t", 1), want1)
}

// testCommitReplyLostDeleteRecords: right after a commit whose reply was
// lost, the cached state revision is stale; DeleteRecords must still
// work (found by FuzzRecovery).
func testCommitReplyLostDeleteRecords(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.LogCacheBytes = 1
		c.BlockCacheBytes = 1
		c.UploadInterval = time.Hour
	})
	v.createTopic("t", 1, nil)
	ctx := context.Background()
	p := v.part("t", 0)
	want := produceN(t, p, "x", 4, 1, 1, 10)
	v.kv.MatchTxns(isCommitTxn)
	v.kv.LoseTxnReplies(1)
	if _, err := v.e.UploadOnce(ctx); err == nil {
		t.Fatal("UploadOnce with a lost commit reply succeeded")
	}
	v.kv.Heal()
	if ls, err := v.e.DeleteRecords(ctx, p, 2); err != nil || ls != 2 {
		t.Fatalf("DeleteRecords after a lost commit reply = %d, %v", ls, err)
	}
	if up := p.UploadedEnd(); up != 4 {
		t.Fatalf("uploaded end %d after adopting the lost commit, want 4", up)
	}
	if pb := v.e.Stats().PendingBytes; pb != 0 {
		t.Fatalf("pending %d after adopting the lost commit", pb)
	}
	checkLog(t, p, want)
	v.crash(nil)
	checkLog(t, v.part("t", 0), want)
	if ls, _, _, _ := v.part("t", 0).Offsets(); ls != 2 {
		t.Fatalf("log start after restart %d, want 2", ls)
	}
}

// testCrashBeforeTrim: the WAL is never trimmed, so after a crash it
// replays entries already committed; they must be skipped, not appended
// again.
func testCrashBeforeTrim(t *testing.T) {
	for _, kind := range []string{memWAL, fileWAL} {
		t.Run(kind, func(t *testing.T) {
			v := newEnv(t, kind, func(c *engine.Config) { c.LogCacheBytes = 1 })
			v.noTrim.Store(true)
			v.createTopic("t", 2, nil)
			p := v.part("t", 0)
			want := produceN(t, p, "up", 6, 2, 1, 20)
			want1 := produceN(t, v.part("t", 1), "up1", 3, 1, 1, 20)
			waitUploaded(t, p)
			waitUploaded(t, v.part("t", 1))
			// And some not uploaded at the crash.
			v.store.Fail(objstore.OpPut, errPut)
			want = append(want, produceN(t, p, "wal", 3, 1, 1, 20)...)
			_, hw, _, _ := p.Offsets()
			v.crash(nil)
			v.store.Clear()

			p = v.part("t", 0)
			if _, hw2, leo, _ := p.Offsets(); hw2 != hw || leo != hw {
				t.Fatalf("after replay hw %d leo %d, want %d", hw2, leo, hw)
			}
			checkLog(t, p, want)
			checkLog(t, v.part("t", 1), want1)
			if base := produceN(t, p, "next", 1, 1, 1, 20); base[0].base != hw {
				t.Fatalf("next offset after replay = %d, want %d", base[0].base, hw)
			} else {
				want = append(want, base...)
			}
			waitUploaded(t, p)
			v.crash(nil)
			checkLog(t, v.part("t", 0), want)
			checkLog(t, v.part("t", 1), want1)
			if pb := v.e.Stats().PendingBytes; pb != 0 {
				t.Fatalf("replay kept %d bytes of committed entries as pending", pb)
			}
		})
	}
}

// TestBackPressureWakeup: a producer waiting for room must be woken by
// the upload that makes room, however the two interleave. With one
// producer and MaxPendingBytes 1, every append waits for the upload of the
// one before; a missed wakeup leaves it waiting for its deadline.
func TestBackPressureWakeup(t *testing.T) {
	v := newEnv(t, memWAL, func(c *engine.Config) {
		c.MaxPendingBytes = 1
		c.UploadInterval = time.Millisecond
		c.LogCacheBytes = 1
	})
	p := v.createTopic("t", 1, nil).Partitions[0]
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		raw, h := idBatch(t, fmt.Sprintf("w%d", i), 1, 1, 0)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		a, err := p.Append(ctx, raw, h, false)
		if err == nil {
			err = a.Wait(ctx)
		}
		cancel()
		if err != nil {
			t.Fatalf("append %d: %v (pending %d)", i, err, v.e.Stats().PendingBytes)
		}
	}
}
