package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed python_txn.py
var pythonTxnScript []byte

// TestTxnLibrdkafka: librdkafka's transactional producer alternates
// committed and aborted transactions; a read_committed consumer sees
// exactly the committed records, once each, and a read_uncommitted one
// sees every record.
func TestTxnLibrdkafka(t *testing.T) {
	py := pythonWithClients(t)
	b := StartBroker(t, BrokerOptions{})
	const topic, txns, per = "txn-rdkafka", 10, 20
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if resp, err := b.Admin(t).CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	script := filepath.Join(t.TempDir(), "python_txn.py")
	if err := os.WriteFile(script, pythonTxnScript, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, script, b.Addr, topic, fmt.Sprint(txns), fmt.Sprint(per))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	var res struct {
		Committed   []string `json:"committed"`
		Uncommitted []string `json:"uncommitted"`
		Errors      []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatalf("script output: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, e := range res.Errors {
		t.Errorf("librdkafka error: %s", e)
	}
	var committed, all []string
	for i := range txns {
		for j := range per {
			v := fmt.Sprintf("t%d-%d", i, j)
			all = append(all, v)
			if i%2 == 0 {
				committed = append(committed, v)
			}
		}
	}
	sort.Strings(committed)
	sort.Strings(all)
	sort.Strings(res.Committed)
	sort.Strings(res.Uncommitted)
	if fmt.Sprint(res.Committed) != fmt.Sprint(committed) {
		t.Errorf("read_committed read %d records, want the %d committed: %v", len(res.Committed), len(committed), res.Committed)
	}
	if fmt.Sprint(res.Uncommitted) != fmt.Sprint(all) {
		t.Errorf("read_uncommitted read %d records, want all %d", len(res.Uncommitted), len(all))
	}
	// franz-go agrees, after a restart (aborted ranges rebuilt).
	b.Kill9(t)
	b.Restart(t)
	if got := readCommitted(t, b, topic, len(committed)); fmt.Sprint(got) != fmt.Sprint(committed) {
		t.Errorf("after restart, read_committed read %d records, want %d", len(got), len(committed))
	}
}

// readCommitted reads topic from the start with a read_committed
// consumer until it has want records (or a minute passes), then polls a
// little longer so that duplicates would show, and returns the values,
// sorted.
func readCommitted(t testing.TB, b *Broker, topic string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(250*time.Millisecond))
	defer cl.Close()
	var out []string
	poll := func(ctx context.Context) {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Fatalf("fetch %s-%d: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	for len(out) < want && ctx.Err() == nil {
		poll(ctx)
	}
	extra, cancelExtra := context.WithTimeout(ctx, time.Second)
	for extra.Err() == nil {
		poll(extra)
	}
	cancelExtra()
	sort.Strings(out)
	return out
}

// TestTxnKill9ConsumeTransformProduce runs franz-go's
// consume-transform-produce loop (GroupTransactSession) and kills the
// broker with SIGKILL in the middle of it, three times (in an open
// transaction with its records durable, in one with records in flight,
// and right after a commit was decided, while its markers are being
// written): after restarts the
// loop carries on, and the output, read with read_committed, holds every
// input record transformed exactly once, with the group's committed
// offsets at the input's end.
func TestTxnKill9ConsumeTransformProduce(t *testing.T) {
	b := StartBroker(t, BrokerOptions{Sets: []string{"weir.upload.interval.ms=200", "group.initial.rebalance.delay.ms=0"}})
	const in, out, group, n = "ctp-in", "ctp-out", "ctp-group", 4000
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := b.Admin(t)
	for _, topic := range []string{in, out} {
		if resp, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil || resp.Err != nil {
			t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
		}
	}
	pcl := b.Client(t, kgo.DefaultProduceTopic(in), kgo.ProducerLinger(0))
	for i := 0; i < n; i += 20 {
		var recs []*kgo.Record
		for j := i; j < i+20; j++ {
			recs = append(recs, kgo.StringRecord(fmt.Sprintf("%05d", j)))
		}
		if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	pcl.Close()

	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(b.Addr), kgo.TransactionalID("ctp-kill9"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(in), kgo.DefaultProduceTopic(out),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(2000),
		kgo.TransactionTimeout(20*time.Second), kgo.RetryTimeout(time.Minute),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	committedSum := func() int64 {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return -1
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum
	}
	transformed, kills, rounds, idle := 0, 0, 0, 0
	for ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := sess.PollFetches(pctx)
		pcancel()
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			got++
			sess.Produce(ctx, kgo.StringRecord("out-"+string(r.Value)), nil)
		})
		if got > 0 && ((kills == 0 && transformed >= n/3) || (kills == 1 && transformed >= 2*n/3)) {
			// In the middle of a transaction: its records are in the
			// log (the first time) or on their way (the second), its
			// offsets and EndTxn not sent yet.
			kills++
			if kills == 1 {
				if err := sess.Client().Flush(ctx); err != nil {
					t.Logf("flush: %v", err)
				}
			}
			t.Logf("kill -9 in transaction %d, after %d transformed records", rounds+1, transformed)
			b.Kill9(t)
			time.Sleep(300 * time.Millisecond)
			b.Restart(t)
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if committed && kills == 2 && transformed+got >= 3*n/4 {
			kills++
			t.Logf("kill -9 right after committing transaction %d", rounds+1)
			b.Kill9(t)
			time.Sleep(300 * time.Millisecond)
			b.Restart(t)
		}
		rounds++
		if err != nil {
			t.Logf("end transaction %d: %v (retrying)", rounds, err)
		}
		if committed {
			transformed += got
		}
		if got == 0 {
			idle++
			if sum := committedSum(); sum == n || idle > 30 {
				break
			}
		} else {
			idle = 0
		}
	}
	if kills < 3 {
		t.Fatalf("only %d kills: the loop ended after %d transformed records", kills, transformed)
	}
	if sum := committedSum(); sum != n {
		t.Fatalf("group committed offsets sum to %d, want %d", sum, n)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("out-%05d", i)
	}
	got := readCommitted(t, b, out, n)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		seen := map[string]int{}
		for _, v := range got {
			seen[v]++
		}
		var dups, missing []string
		for _, v := range want {
			switch c := seen[v]; {
			case c == 0 && len(missing) < 10:
				missing = append(missing, v)
			case c > 1 && len(dups) < 10:
				dups = append(dups, v)
			}
		}
		t.Fatalf("read_committed output has %d records, want %d; duplicates %v, missing %v", len(got), n, dups, missing)
	}
}
