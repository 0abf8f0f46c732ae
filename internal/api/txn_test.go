package api_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnValues consumes every record of topic from the start with the given
// isolation level until it has want records or 10 s pass, and returns
// their values sorted.
func txnValues(t *testing.T, addr, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	// Give a read_committed consumer a chance to show what it must not.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	cancel()
	sort.Strings(out)
	return out
}

// TestTxnProduceCommitAbort runs franz-go's transactional producer:
// committed transactions are visible to read_committed consumers,
// aborted ones only to read_uncommitted ones, and an open transaction
// holds the last stable offset back.
func TestTxnProduceCommitAbort(t *testing.T) {
	t.Parallel()
	n, _, adm := adminStart(t)
	ctx := adminCtx(t)
	adminMustCreate(t, adm, 3, nil, "tx-out")
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("tx-out"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var committed, all []string
	for i := range 6 {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 5 {
			v := fmt.Sprintf("t%d-%d", i, j)
			all = append(all, v)
			if i%2 == 0 {
				committed = append(committed, v)
			}
			if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(i%2 == 0)); err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
	}
	sort.Strings(committed)
	sort.Strings(all)
	if got := txnValues(t, n.Addr(), "tx-out", true, len(committed)); fmt.Sprint(got) != fmt.Sprint(committed) {
		t.Fatalf("read_committed got %v, want %v", got, committed)
	}
	if got := txnValues(t, n.Addr(), "tx-out", false, len(all)); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("read_uncommitted got %v, want %v", got, all)
	}

	// An open transaction holds the LSO back; ListOffsets with
	// read_committed answers it.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("open"), Partition: 0}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "tx-out")
	if err != nil {
		t.Fatal(err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, "tx-out")
	if err != nil {
		t.Fatal(err)
	}
	lagging := 0
	end.Each(func(o kadm.ListedOffset) {
		s, _ := stable.Lookup("tx-out", o.Partition)
		if s.Offset < o.Offset {
			lagging++
		}
	})
	if lagging != 1 {
		t.Fatalf("%d partitions have LSO < HW with one open transaction: end %v stable %v", lagging, end, stable)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
}

// TestTxnGroupTransactSession runs franz-go's consume-transform-produce
// loop (GroupTransactSession: TxnOffsetCommit, AddOffsetsToTxn) with
// some transactions aborted, and checks with a read_committed consumer
// that every input record is in the output exactly once, and that the
// group's committed offsets are the input's end.
func TestTxnGroupTransactSession(t *testing.T) {
	t.Parallel()
	n, cl, adm := adminStart(t, "group.initial.rebalance.delay.ms=0")
	ctx := adminCtx(t)
	adminMustCreate(t, adm, 2, nil, "ctp-in", "ctp-out")
	const total = 300
	var in []*kgo.Record
	for i := range total {
		in = append(in, &kgo.Record{Topic: "ctp-in", Value: []byte(fmt.Sprintf("v%03d", i))})
	}
	// Small batches, so that the session needs many transactions.
	for i := 0; i < total; i += 10 {
		if err := cl.ProduceSync(ctx, in[i:i+10]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(n.Addr()), kgo.TransactionalID("ctp-tx"),
		kgo.ConsumerGroup("ctp-group"), kgo.ConsumeTopics("ctp-in"), kgo.DefaultProduceTopic("ctp-out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(400))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done, round := 0, 0
	for done < total {
		if ctx.Err() != nil {
			t.Fatalf("timed out with %d of %d transformed", done, total)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := sess.PollFetches(pctx)
		cancel()
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		var got int
		fs.EachRecord(func(r *kgo.Record) {
			got++
			sess.Produce(ctx, kgo.StringRecord("out-"+string(r.Value)), func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, kgo.ErrAborting) {
					t.Errorf("produce: %v", err)
				}
			})
		})
		round++
		commit := round%3 != 0
		committed, err := sess.End(ctx, kgo.TransactionEndTry(commit))
		if err != nil {
			t.Fatalf("end round %d: %v", round, err)
		}
		if committed {
			done += got
		}
	}
	if round < 6 {
		t.Fatalf("only %d transactions: too few aborts to test", round)
	}
	want := make([]string, total)
	for i := range want {
		want[i] = fmt.Sprintf("out-v%03d", i)
	}
	if got := txnValues(t, n.Addr(), "ctp-out", true, total); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read_committed output: %d records %v, want %d", len(got), got, total)
	}
	offs, err := adm.FetchOffsets(ctx, "ctp-group")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != total {
		t.Fatalf("committed offsets sum to %d, want %d: %v", sum, total, offs)
	}
}
