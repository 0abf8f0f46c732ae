package engine_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
)

// txnBatch is idemBatch with the transactional bit.
func txnBatch(tb testing.TB, pid int64, epoch int16, seq int32, n int) ([]byte, batch.Header) {
	tb.Helper()
	raw, _ := idemBatch(tb, pid, epoch, seq, n, 1000)
	binary.BigEndian.PutUint16(raw[21:], batch.TransactionalBit)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	h, err := batch.Validate(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return raw, h
}

func marker(tb testing.TB, p *engine.Partition, pid int64, epoch int16, commit bool) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := p.WriteMarker(ctx, pid, epoch, commit, 0)
	if err != nil {
		tb.Fatalf("marker: %v", err)
	}
	if err := a.Wait(ctx); err != nil {
		tb.Fatalf("marker: %v", err)
	}
	return a.BaseOffset
}

// TestTxnRecovery checks that a partition's open transactions (its last
// stable offset) and aborted transactions survive a restart or a crash,
// whether the batches are still in the WAL, uploaded to objects, or in a
// producer snapshot.
func TestTxnRecovery(t *testing.T) {
	modes := []struct {
		name   string
		upload bool
		snap   int64
	}{
		{"wal", false, 1 << 40},
		{"objects", true, 1 << 40},
		{"snapshots", true, 1},
	}
	for _, kind := range []string{memWAL, fileWAL} {
		for _, m := range modes {
			for _, how := range []string{"crash", "restart"} {
				t.Run(kind+"/"+m.name+"/"+how, func(t *testing.T) {
					testTxnRecovery(t, kind, m.upload, m.snap, how == "crash")
				})
			}
		}
	}
}

func testTxnRecovery(t *testing.T, kind string, upload bool, snapBytes int64, crash bool) {
	v := newEnv(t, kind, func(c *engine.Config) {
		c.UploadInterval = time.Hour
		c.ProducerSnapshotBytes = snapBytes
		c.ProducerSnapshotInterval = time.Hour
	})
	v.createTopic("t", 1, nil)
	p := v.part("t", 0)
	ctx := context.Background()
	up := func() {
		if upload {
			if _, err := v.e.UploadOnce(ctx); err != nil {
				t.Fatalf("upload: %v", err)
			}
		}
	}
	add := func(raw []byte, h batch.Header) int64 {
		a, err := offer(t, p, raw, h)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		return a.BaseOffset
	}
	// Producer 1 commits, 2 aborts, 3 stays open; 4 is idempotent only.
	firstA := add(txnBatch(t, 1, 0, 0, 2))
	firstB := add(txnBatch(t, 2, 0, 0, 1))
	add(idemBatch(t, 4, 0, 0, 1, 1000))
	up()
	add(txnBatch(t, 1, 0, 2, 1))
	firstC := add(txnBatch(t, 3, 0, 0, 2))
	add(txnBatch(t, 2, 0, 1, 3))
	if got := p.LastStableOffset(); got != firstA {
		t.Fatalf("LSO %d with transactions open, want %d", got, firstA)
	}
	marker(t, p, 1, 0, true)
	up()
	endB := marker(t, p, 2, 0, false)
	add(idemBatch(t, 4, 0, 1, 1, 1000))
	up()
	if got := p.LastStableOffset(); got != firstC {
		t.Fatalf("LSO %d, want %d", got, firstC)
	}
	wantAborted := fmt.Sprint([]engine.AbortedTxn{{ProducerID: 2, FirstOffset: firstB, LastOffset: endB}})
	if crash {
		v.crash(nil)
	} else {
		v.restart()
	}
	p = v.part("t", 0)
	_, hw, _, _ := p.Offsets()
	if got := p.LastStableOffset(); got != firstC {
		t.Fatalf("after recovery: LSO %d, want %d", got, firstC)
	}
	if got := fmt.Sprint(p.AbortedTxns(0, hw)); got != wantAborted {
		t.Fatalf("after recovery: aborted %s, want %s", got, wantAborted)
	}
	if got := p.AbortedTxns(endB+1, hw); len(got) != 0 {
		t.Fatalf("aborted after its marker: %v", got)
	}
	// read_committed stops at the LSO.
	res, err := p.ReadCommitted(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range decodeBatches(t, res.Records) {
		if b.h.LastOffset() >= firstC {
			t.Fatalf("read_committed returned batch at %d, LSO %d", b.h.BaseOffset, firstC)
		}
	}
	// The open transaction continues, in sequence, and commits.
	add(txnBatch(t, 3, 0, 2, 1))
	if p.HasOpenTxn(3, 0) != true {
		t.Fatal("producer 3 has no open transaction after recovery")
	}
	marker(t, p, 3, 0, true)
	_, hw, _, _ = p.Offsets()
	if got := p.LastStableOffset(); got != hw {
		t.Fatalf("LSO %d after the last commit, want hw %d", got, hw)
	}
	// A zombie of producer 2 is fenced by a marker of a newer epoch.
	marker(t, p, 2, 1, false)
	raw, h := txnBatch(t, 2, 0, 4, 1)
	if _, err := offer(t, p, raw, h); err == nil {
		t.Fatal("old epoch accepted after a fencing marker")
	}
	raw, h = txnBatch(t, 2, 1, 0, 1)
	if _, err := offer(t, p, raw, h); err != nil {
		t.Fatalf("new epoch at sequence 0: %v", err)
	}
}
