package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// TestTxnOffsetsPersistence: transactional commits become committed
// offsets only with their producer's commit marker, are dropped with an
// abort marker, and a reload (after a crash or a clean close) applies the
// log's markers the same way, keeping an open transaction's offsets
// pending.
func TestTxnOffsetsPersistence(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean close", true: "crash"}[crash], func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w, store, kv := wal.NewMemory(), objstore.NewMemory(), meta.NewMemory()
			open := func(w *wal.Memory) (*engine.Engine, *Coordinator) {
				eng, err := engine.Open(ctx, engine.Config{WAL: w, Store: store, Meta: kv, Logger: testLogger(),
					UploadInterval: time.Hour, UploadBytes: 1 << 30})
				if err != nil {
					t.Fatal(err)
				}
				c, err := Start(ctx, Config{Storage: EngineStorage(eng), Partitions: 1, Logger: testLogger()})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.WaitLoaded(ctx); err != nil {
					t.Fatal(err)
				}
				return eng, c
			}
			eng, c := open(w)
			commit := func(pid int64, tp TopicPartition, off int64) {
				t.Helper()
				errs := c.TxnCommit(ctx, TxnCommitRequest{CommitRequest: CommitRequest{Group: "g", Generation: -1,
					Offsets: []CommitOffset{{TopicPartition: tp, Offset: off, LeaderEpoch: -1}}}, ProducerID: pid})
				if errs[0] != nil {
					t.Fatal(errs[0])
				}
			}
			mark := func(pid int64, ok bool) {
				t.Helper()
				p := eng.Topic(TopicName).Partitions[0]
				a, err := p.WriteMarker(ctx, pid, 0, ok, 0)
				if err == nil {
					err = a.Wait(ctx)
				}
				if err != nil {
					t.Fatal(err)
				}
				c.TxnMarker(0, pid, ok)
			}
			fetch := func(c *Coordinator, tp TopicPartition) (int64, error) {
				t.Helper()
				res := c.Fetch(ctx, FetchRequest{Group: "g", Partitions: []TopicPartition{tp}, RequireStable: true})
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				return res.Offsets[0].Offset, res.Offsets[0].Err
			}
			a, b, d := TopicPartition{"t", 0}, TopicPartition{"t", 1}, TopicPartition{"t", 2}
			commit(1, a, 10) // committed
			commit(2, b, 20) // aborted
			commit(3, d, 30) // left open
			if _, err := fetch(c, a); err != kerr.UnstableOffsetCommit {
				t.Fatalf("pending commit: %v, want UNSTABLE_OFFSET_COMMIT", err)
			}
			mark(1, true)
			mark(2, false)
			check := func(c *Coordinator) {
				t.Helper()
				if off, err := fetch(c, a); off != 10 || err != nil {
					t.Fatalf("committed transaction: offset %d %v, want 10", off, err)
				}
				if off, err := fetch(c, b); off != -1 || err != nil {
					t.Fatalf("aborted transaction: offset %d %v, want -1", off, err)
				}
				if _, err := fetch(c, d); err != kerr.UnstableOffsetCommit {
					t.Fatalf("open transaction: %v, want UNSTABLE_OFFSET_COMMIT", err)
				}
			}
			// Let the marker notifications reach the loop.
			time.Sleep(50 * time.Millisecond)
			check(c)
			c.Stop()
			closeCtx := ctx
			if crash {
				// Nothing uploads: the WAL alone holds the state.
				var cc context.CancelFunc
				closeCtx, cc = context.WithCancel(ctx)
				cc()
			}
			if err := eng.Close(closeCtx); err != nil && !crash {
				t.Fatal(err)
			}
			eng, c = open(w.Reopen())
			defer func() { c.Stop(); _ = eng.Close(ctx) }()
			check(c)
			mark(3, true)
			time.Sleep(50 * time.Millisecond)
			if off, err := fetch(c, d); off != 30 || err != nil {
				t.Fatalf("transaction committed after reload: offset %d %v, want 30", off, err)
			}
		})
	}
}
