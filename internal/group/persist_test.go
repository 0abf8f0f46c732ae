package group

import (
	"context"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// TestGroupPersistence runs the coordinator on the storage engine, stops
// it and rebuilds everything on the same storage: once after a clean
// close (state read back from object storage), once after a crash that
// uploaded nothing (state replayed from the WAL). Acknowledged commits and
// group metadata come back; deleted state (groups, offsets, offsets of
// deleted topics) stays deleted.
func TestGroupPersistence(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "clean close"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w, store, kv := wal.NewMemory(), objstore.NewMemory(), meta.NewMemory()
			open := func(w *wal.Memory) (*engine.Engine, *Coordinator) {
				eng, err := engine.Open(ctx, engine.Config{
					WAL: w, Store: store, Meta: kv, Logger: testLogger(),
					UploadInterval: time.Hour, UploadBytes: 1 << 30,
				})
				if err != nil {
					t.Fatal(err)
				}
				c, err := Start(ctx, Config{Storage: EngineStorage(eng), Partitions: 5, Logger: testLogger(), MinSessionTimeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.WaitLoaded(ctx); err != nil {
					t.Fatal(err)
				}
				return eng, c
			}
			eng, c := open(w)
			if tp := eng.Topic(TopicName); tp == nil || !tp.Internal || len(tp.Partitions) != 5 || tp.Configs["cleanup.policy"] != "compact" {
				t.Fatalf("offsets topic: %+v", tp)
			}

			// A Stable group with a member, its assignment and offsets.
			join := c.Join(ctx, JoinRequest{Group: "stable", ClientID: "c", SessionTimeoutMs: 30000, RebalanceTimeoutMs: 30000,
				ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("sub")}}})
			if join.Err != nil {
				t.Fatal(join.Err)
			}
			if res := c.Sync(ctx, SyncRequest{Group: "stable", MemberID: join.MemberID, Generation: join.Generation,
				Assignments: map[string][]byte{join.MemberID: []byte("assigned")}}); res.Err != nil {
				t.Fatal(res.Err)
			}
			commit := func(group string, member string, gen int32, offs ...CommitOffset) {
				t.Helper()
				for _, err := range c.Commit(ctx, CommitRequest{Group: group, MemberID: member, Generation: gen, Offsets: offs}) {
					if err != nil {
						t.Fatalf("commit %s: %v", group, err)
					}
				}
			}
			md := "meta"
			commit("stable", join.MemberID, join.Generation, CommitOffset{TopicPartition{"t", 0}, 10, 3, &md})
			commit("stable", join.MemberID, join.Generation, CommitOffset{TopicPartition{"t", 0}, 11, 3, &md}) // later wins
			commit("simple", "", -1, CommitOffset{TopicPartition{"t", 1}, 5, -1, nil}, CommitOffset{TopicPartition{"u", 0}, 6, -1, nil})
			commit("gone", "", -1, CommitOffset{TopicPartition{"t", 0}, 1, -1, nil})
			if errs := c.Delete(ctx, []string{"gone"}); errs[0] != nil {
				t.Fatal(errs[0])
			}
			if res := c.DeleteOffsets(ctx, "simple", []TopicPartition{{"u", 0}}); res.Err != nil || res.Partitions[0] != nil {
				t.Fatalf("offset delete: %+v", res)
			}
			// A deleted topic's offsets go from every group, Stable or
			// not; the other topics' stay.
			commit("stable", join.MemberID, join.Generation, CommitOffset{TopicPartition{"doomed", 0}, 7, -1, nil})
			commit("simple", "", -1, CommitOffset{TopicPartition{"doomed", 2}, 8, -1, nil})
			commit("doomed-only", "", -1, CommitOffset{TopicPartition{"doomed", 1}, 9, -1, nil})
			if err := c.DeleteTopicOffsets(ctx, []string{"doomed", "never-committed"}); err != nil {
				t.Fatalf("delete topic offsets: %v", err)
			}
			for _, g := range []string{"stable", "simple", "doomed-only"} {
				for _, o := range c.Fetch(ctx, FetchRequest{Group: g}).Offsets {
					if o.Topic == "doomed" {
						t.Errorf("group %s still has %+v of the deleted topic", g, o)
					}
				}
			}

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
			w2 := w.Reopen()
			eng2, c2 := open(w2)
			defer func() {
				c2.Stop()
				_ = eng2.Close(ctx)
			}()

			fetch := func(group string) []FetchedOffset {
				res := c2.Fetch(ctx, FetchRequest{Group: group})
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				return res.Offsets
			}
			if got := fetch("stable"); len(got) != 1 || got[0].Offset != 11 || got[0].LeaderEpoch != 3 || got[0].Metadata != "meta" {
				t.Errorf("stable offsets after reload: %+v", got)
			}
			if got := fetch("simple"); len(got) != 1 || got[0].Topic != "t" || got[0].Offset != 5 {
				t.Errorf("simple offsets after reload: %+v", got)
			}
			if got := fetch("gone"); len(got) != 0 {
				t.Errorf("deleted group's offsets after reload: %+v", got)
			}
			if got := fetch("doomed-only"); len(got) != 0 {
				t.Errorf("offsets of a deleted topic after reload: %+v", got)
			}
			d := c2.Describe(ctx, []string{"stable", "gone"})
			if d[0].State != "Stable" || d[0].Protocol != "range" || len(d[0].Members) != 1 ||
				d[0].Members[0].MemberID != join.MemberID || string(d[0].Members[0].Assignment) != "assigned" {
				t.Errorf("stable group after reload: %+v", d[0])
			}
			if d[1].State != "Dead" {
				t.Errorf("deleted group after reload: %+v", d[1])
			}
			// The member carries on in its generation.
			if err := c2.Heartbeat(ctx, HeartbeatRequest{Group: "stable", MemberID: join.MemberID, Generation: join.Generation}); err != nil {
				t.Errorf("heartbeat after reload: %v", err)
			}
		})
	}
}
