package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// loc is where a record landed.
type loc struct {
	Partition int32
	Offset    int64
}

func (l loc) String() string { return fmt.Sprintf("%d@%d", l.Partition, l.Offset) }

// ackLog records every acknowledged record of a topic: value -> location.
type ackLog struct {
	mu    sync.Mutex
	acked map[string]loc
	n     atomic.Int64
	fails atomic.Int64
}

func newAckLog() *ackLog { return &ackLog{acked: make(map[string]loc)} }

func (a *ackLog) add(t testing.TB, value string, l loc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev, ok := a.acked[value]; ok {
		t.Errorf("value %q acknowledged twice: at %v and %v", value, prev, l)
	}
	a.acked[value] = l
	a.n.Add(1)
}

func (a *ackLog) snapshot() map[string]loc {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]loc, len(a.acked))
	for k, v := range a.acked {
		m[k] = v
	}
	return m
}

// readAll reads every partition of topic from its log start offset to its
// high watermark and returns the records by partition. It fails the test if
// a partition's offsets are not contiguous.
func readAll(t testing.TB, b *Broker, topic string) map[int32][]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(b.Client(t))
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("list start offsets of %s: %v", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := make(map[int32][]*kgo.Record)
	next := make(map[int32]int64)
	want := make(map[int32]int64)
	offsets := make(map[int32]kgo.Offset)
	ends.Each(func(lo kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, lo.Partition)
		out[lo.Partition] = nil
		want[lo.Partition] = lo.Offset
		next[lo.Partition] = s.Offset
		if s.Offset < lo.Offset {
			offsets[lo.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	if len(offsets) == 0 {
		return out
	}
	cl := b.Client(t,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	defer cl.Close()
	remaining := len(offsets)
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: timed out; progress %v of %v", topic, next, want)
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Fatalf("fetch %s-%d: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= want[r.Partition] {
				return // produced since we listed the end offsets
			}
			if r.Offset != next[r.Partition] {
				t.Fatalf("%s-%d: read offset %d, want %d: offsets are not contiguous", topic, r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			out[r.Partition] = append(out[r.Partition], r)
			if next[r.Partition] == want[r.Partition] {
				remaining--
			}
		})
	}
	return out
}

// verifyAcked checks that every acknowledged record is in topic at exactly
// its acknowledged partition and offset and appears nowhere else, that
// every partition starts at offset 0 and is contiguous, and that every
// record is one the test produced (valid reports whether a value is). It
// returns the number of records read and of unacknowledged records present.
func verifyAcked(t testing.TB, b *Broker, topic string, acked map[string]loc, valid func(string) bool) (read, unacked int) {
	t.Helper()
	parts := readAll(t, b, topic)
	seen := make(map[string][]loc)
	var bad []string
	for p, recs := range parts {
		if len(recs) > 0 && recs[0].Offset != 0 {
			t.Errorf("%s-%d: log starts at offset %d, want 0 (no retention or deletes in this test)", topic, p, recs[0].Offset)
		}
		for _, r := range recs {
			v := string(r.Value)
			if !valid(v) {
				bad = append(bad, fmt.Sprintf("%q at %d@%d", v, p, r.Offset))
			}
			seen[v] = append(seen[v], loc{p, r.Offset})
			read++
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: %d records the test never produced, e.g. %v", topic, len(bad), bad[:min(5, len(bad))])
	}
	var missing, moved, dup []string
	for v, l := range acked {
		got := seen[v]
		switch {
		case len(got) == 0:
			missing = append(missing, fmt.Sprintf("%s (acked at %v)", v, l))
		case len(got) > 1:
			dup = append(dup, fmt.Sprintf("%s acked at %v, found at %v", v, l, got))
		case got[0] != l:
			moved = append(moved, fmt.Sprintf("%s acked at %v, found at %v", v, l, got[0]))
		}
	}
	for v, ls := range seen {
		if _, ok := acked[v]; !ok {
			unacked++
			if len(ls) > 1 {
				t.Logf("%s: unacknowledged value %s appears %d times: %v", topic, v, len(ls), ls)
			}
		}
	}
	report := func(what string, l []string) {
		if len(l) == 0 {
			return
		}
		sort.Strings(l)
		t.Errorf("%s: %d of %d acknowledged records %s, e.g.:\n  %v", topic, len(l), len(acked), what, l[:min(10, len(l))])
	}
	report("are missing", missing)
	report("are at another offset", moved)
	report("are duplicated", dup)
	return read, unacked
}

// endOffsets returns the high watermark of every partition of topic.
func endOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	m := make(map[int32]int64)
	ends.Each(func(lo kadm.ListedOffset) { m[lo.Partition] = lo.Offset })
	return m
}
