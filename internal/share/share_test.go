package share

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/coordlog"
)

// memLog is a coordlog.Log in memory; appends are durable at once.
type memLog struct {
	mu      sync.Mutex // guards the following
	batches [][]byte
	next    int64
}

func (l *memLog) Append(_ context.Context, raw []byte) (func(context.Context) error, error) {
	h, err := batch.Validate(raw)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := slices.Clone(raw)
	batch.SetBaseOffset(b, l.next)
	l.next += int64(h.LastOffsetDelta) + 1
	l.batches = append(l.batches, b)
	return func(context.Context) error { return nil }, nil
}

func (l *memLog) Read(_ context.Context, offset int64, _ int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		h, _ := batch.ParseHeader(b)
		if h.LastOffset() >= offset {
			out = append(out, b...)
		}
	}
	return out, nil
}

func (l *memLog) Bounds() (int64, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, l.next
}

type memStorage struct{ logs []coordlog.Log }

func (s *memStorage) Open(_ context.Context, partitions int32) ([]coordlog.Log, error) {
	for int32(len(s.logs)) < partitions {
		s.logs = append(s.logs, &memLog{})
	}
	return s.logs, nil
}

// fakeTopics has one topic "t" with two partitions whose bounds tests set.
type fakeTopics struct {
	mu     sync.Mutex // guards the following
	bounds map[TP][2]int64
}

var topicT = TopicInfo{Name: "t", ID: [16]byte{1}, Partitions: 2}

func (f *fakeTopics) ByName(name string) (TopicInfo, bool) { return topicT, name == "t" }
func (f *fakeTopics) ByID(id [16]byte) (TopicInfo, bool)   { return topicT, id == topicT.ID }
func (f *fakeTopics) Bounds(tp TP) (int64, int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tp.TopicID != topicT.ID || tp.Partition < 0 || tp.Partition >= topicT.Partitions {
		return 0, 0, false
	}
	b := f.bounds[tp]
	return b[0], b[1], true
}

func (f *fakeTopics) set(tp TP, logStart, hw int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bounds[tp] = [2]int64{logStart, hw}
}

type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	t      *testing.T
	st     *memStorage
	topics *fakeTopics
	clk    *clock
	c      *Coordinator
}

var tp0 = TP{TopicID: topicT.ID, Partition: 0}

func newEnv(t *testing.T) *env {
	e := &env{t: t, st: &memStorage{}, topics: &fakeTopics{bounds: map[TP][2]int64{}},
		clk: &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	e.topics.set(tp0, 0, 100)
	e.start()
	return e
}

func (e *env) start() {
	e.t.Helper()
	c, err := Start(context.Background(), Config{
		Storage: e.st, Partitions: 3, Topics: e.topics, Now: e.clk.Now,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		SweepInterval: time.Hour, // tests sweep by hand
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.c = c
	e.t.Cleanup(c.Stop)
}

// restart starts a new coordinator on the same log, as after kill -9.
func (e *env) restart() {
	e.t.Helper()
	e.c.Stop()
	e.start()
}

func (e *env) earliest(group string) {
	e.t.Helper()
	v := "earliest"
	if err := e.c.AlterConfigs(context.Background(), group, []ConfigOp{{Name: "share.auto.offset.reset", Value: &v}}, false); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) ack(group, member string, first, last int64, typ int8) error {
	e.t.Helper()
	wait, err := e.c.Acknowledge(group, member, tp0, []AckBatch{{First: first, Last: last, Types: []int8{typ}}}, false)
	if err != nil {
		return err
	}
	return wait(context.Background())
}

func (e *env) spso(group string) int64 {
	e.t.Helper()
	o := e.c.Offsets(group, []TP{tp0})
	return o[0].StartOffset
}

func want[T comparable](t *testing.T, what string, got, exp T) {
	t.Helper()
	if got != exp {
		t.Fatalf("%s: got %v, want %v", what, got, exp)
	}
}

func TestAcquireDisjointAndLatest(t *testing.T) {
	e := newEnv(t)
	// Default share.auto.offset.reset=latest: nothing before the HW.
	want(t, "latest acquire", len(e.c.Acquire("g", "a", tp0, 0, 1<<62, 10)), 0)
	want(t, "spso at hw", e.spso("g"), 100)
	e.topics.set(tp0, 0, 110)
	ra := e.c.Acquire("g", "a", tp0, 0, 1<<62, 4)
	rb := e.c.Acquire("g", "b", tp0, 0, 1<<62, 100)
	want(t, "a ranges", len(ra), 1)
	want(t, "a range", ra[0], Range{First: 100, Last: 103, Deliveries: 1})
	want(t, "b range", rb[0], Range{First: 104, Last: 109, Deliveries: 1})
	want(t, "nothing left", len(e.c.Acquire("g", "c", tp0, 0, 1<<62, 100)), 0)
	// A limit (the end of the batches read) bounds acquisition.
	e.topics.set(tp0, 0, 120)
	rc := e.c.Acquire("g", "c", tp0, 0, 112, 100)
	want(t, "limited", rc[0], Range{First: 110, Last: 111, Deliveries: 1})
	// A record released below the batches a fetch read is not acquired
	// by it: the client would get the offset without its data.
	if err := e.ack("g", "a", 100, 100, AckRelease); err != nil {
		t.Fatal(err)
	}
	rd := e.c.Acquire("g", "d", tp0, 112, 115, 100)
	want(t, "from bound", rd[0], Range{First: 112, Last: 114, Deliveries: 1})
	re := e.c.Acquire("g", "e", tp0, 100, 101, 100)
	want(t, "released", re[0], Range{First: 100, Last: 100, Deliveries: 2})
}

func TestAckTypesAndSPSO(t *testing.T) {
	e := newEnv(t)
	e.earliest("g")
	e.topics.set(tp0, 0, 10)
	e.c.Acquire("g", "a", tp0, 0, 1<<62, 10)
	// Accept 0-1, reject 2, gap 3, release 4: SPSO moves past 0-3.
	if _, err := e.c.Acknowledge("g", "a", tp0, []AckBatch{
		{First: 0, Last: 3, Types: []int8{AckAccept, AckAccept, AckReject, AckGap}},
		{First: 4, Last: 4, Types: []int8{AckRelease}},
	}, false); err != nil {
		t.Fatal(err)
	}
	want(t, "spso", e.spso("g"), 4)
	// Released 4 is redelivered, with its delivery count.
	r := e.c.Acquire("g", "b", tp0, 0, 1<<62, 1)
	want(t, "redelivered", r[0], Range{First: 4, Last: 4, Deliveries: 2})
	// b holds 4: a may not acknowledge it; all or nothing.
	err := e.ack("g", "a", 4, 9, AckAccept)
	want(t, "wrong member", errors.Is(err, kerr.InvalidRecordState), true)
	want(t, "spso unchanged", e.spso("g"), 4)
	// Past the window is INVALID_REQUEST; malformed batches too.
	want(t, "past window", errors.Is(e.ack("g", "a", 5, 20, AckAccept), kerr.InvalidRequest), true)
	_, err = e.c.Acknowledge("g", "a", tp0, []AckBatch{{First: 6, Last: 7, Types: []int8{1}}, {First: 5, Last: 5, Types: []int8{1}}}, false)
	want(t, "descending", errors.Is(err, kerr.InvalidRequest), true)
	want(t, "renew not allowed", errors.Is(e.ack("g", "a", 5, 5, AckRenew), kerr.InvalidRequest), true)
	if err := e.ack("g", "a", 5, 9, AckAccept); err != nil {
		t.Fatal(err)
	}
	want(t, "spso behind b's record", e.spso("g"), 4)
	if err := e.ack("g", "b", 4, 4, AckAccept); err != nil {
		t.Fatal(err)
	}
	want(t, "spso over all", e.spso("g"), 10)
	want(t, "lag", e.c.Offsets("g", []TP{tp0})[0].Lag, int64(0))
}

func TestLockTimeoutRedeliveryAndRenew(t *testing.T) {
	e := newEnv(t)
	e.earliest("g")
	e.topics.set(tp0, 0, 4)
	e.c.Acquire("g", "a", tp0, 0, 1<<62, 2) // 0-1
	e.clk.add(20 * time.Second)
	e.c.Acquire("g", "a", tp0, 0, 1<<62, 2) // 2-3, locked 20 s later
	// Renew 0 at 20 s: it outlives 1.
	if _, err := e.c.Acknowledge("g", "a", tp0, []AckBatch{{First: 0, Last: 0, Types: []int8{AckRenew}}}, true); err != nil {
		t.Fatal(err)
	}
	ch := e.c.Changed()
	e.clk.add(11 * time.Second) // 31 s: 1's lock (30 s) is over
	e.c.sweepOnce()
	select {
	case <-ch:
	default:
		t.Fatal("expiry did not wake waiting fetches")
	}
	r := e.c.Acquire("g", "b", tp0, 0, 1<<62, 10)
	want(t, "expired record redelivered", len(r), 1)
	want(t, "range", r[0], Range{First: 1, Last: 1, Deliveries: 2})
	// a's acknowledgement of 1 comes too late.
	want(t, "late ack", errors.Is(e.ack("g", "a", 1, 1, AckAccept), kerr.InvalidRecordState), true)
}

func TestDeliveryCountLimit(t *testing.T) {
	e := newEnv(t)
	e.earliest("g")
	limit := "3"
	if err := e.c.AlterConfigs(context.Background(), "g", []ConfigOp{{Name: "share.delivery.count.limit", Value: &limit}}, false); err != nil {
		t.Fatal(err)
	}
	e.topics.set(tp0, 0, 2)
	for i := 1; i <= 3; i++ {
		r := e.c.Acquire("g", "a", tp0, 0, 1<<62, 1)
		want(t, "delivery", r[0], Range{First: 0, Last: 0, Deliveries: int16(i)})
		if err := e.ack("g", "a", 0, 0, AckRelease); err != nil {
			t.Fatal(err)
		}
	}
	// Released a third time: archived, and the SPSO moves past it.
	want(t, "spso past archived", e.spso("g"), 1)
	r := e.c.Acquire("g", "a", tp0, 0, 1<<62, 5)
	want(t, "next", r[0], Range{First: 1, Last: 1, Deliveries: 1})
}

func TestMaxRecordLocks(t *testing.T) {
	e := newEnv(t)
	e.earliest("g")
	e.topics.set(tp0, 0, 5000)
	r := e.c.Acquire("g", "a", tp0, 0, 1<<62, 5000)
	want(t, "window", r[0].Last-r[0].First+1, int64(2000))
	if _, ok := e.c.NextOffset("g", tp0); ok {
		t.Fatal("full window still offers records")
	}
	if err := e.ack("g", "a", 0, 9, AckAccept); err != nil {
		t.Fatal(err)
	}
	o, ok := e.c.NextOffset("g", tp0)
	want(t, "window moved", ok, true)
	want(t, "next offset", o, int64(2000))
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	tp1 := TP{TopicID: topicT.ID, Partition: 1}
	_, err := e.c.Session("g", "a", 3, nil, nil)
	want(t, "no session", errors.Is(err, kerr.ShareSessionNotFound), true)
	parts, err := e.c.Session("g", "a", 0, []TP{tp0}, nil)
	want(t, "open", err, nil)
	want(t, "parts", len(parts), 1)
	_, err = e.c.Session("g", "a", 2, nil, nil)
	want(t, "wrong epoch", errors.Is(err, kerr.InvalidShareSessionEpoch), true)
	parts, err = e.c.Session("g", "a", 1, []TP{tp1}, []TP{tp0})
	want(t, "incremental", err, nil)
	want(t, "swapped", len(parts) == 1 && parts[0] == tp1, true)
	want(t, "ack epoch 0", errors.Is(e.c.AckSession("g", "a", 0), kerr.InvalidShareSessionEpoch), true)
	want(t, "ack epoch 2", e.c.AckSession("g", "a", 2), nil)
	_, err = e.c.Session("g", "a", 3, nil, nil)
	want(t, "after ack", err, nil)

	// Closing releases the member's records of the session's partitions.
	e.earliest("g")
	e.topics.set(tp1, 0, 3)
	e.c.Acquire("g", "a", tp1, 0, 1<<62, 3)
	want(t, "close", e.c.CloseSession("g", "a"), nil)
	r := e.c.Acquire("g", "b", tp1, 0, 1<<62, 3)
	want(t, "released on close", r[0], Range{First: 0, Last: 2, Deliveries: 2})
	want(t, "closed", errors.Is(e.c.CloseSession("g", "a"), kerr.ShareSessionNotFound), true)
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: 0})
	want(t, "no subscription", errors.Is(err, kerr.InvalidRequest), true)
	ra, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: 0, Topics: []string{"t", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "assignment sent", ra.SendAssignment, true)
	want(t, "all partitions", len(ra.Assignment) == 1 && len(ra.Assignment[0].Partitions) == 2, true)
	rb, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "b", Epoch: 0, Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Epoch <= ra.Epoch {
		t.Fatalf("group epoch did not move: %d then %d", ra.Epoch, rb.Epoch)
	}
	// a catches up on its next heartbeat; a stale epoch is fenced.
	ra2, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: ra.Epoch})
	want(t, "heartbeat", err, nil)
	want(t, "caught up", ra2.Epoch, rb.Epoch)
	_, err = e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: ra.Epoch - 1})
	want(t, "fenced", errors.Is(err, kerr.FencedMemberEpoch), true)
	_, err = e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "x", Epoch: 3})
	want(t, "unknown", errors.Is(err, kerr.UnknownMemberID), true)

	// b times out: its records are released.
	e.earliest("g")
	e.c.Acquire("g", "b", tp0, 0, 1<<62, 5)
	e.clk.add(46 * time.Second)
	if _, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: ra2.Epoch}); err != nil {
		t.Fatal(err)
	}
	e.c.sweepOnce()
	gi, _ := e.c.Describe("g")
	want(t, "members", len(gi.Members), 1)
	r := e.c.Acquire("g", "a", tp0, 0, 1<<62, 5)
	want(t, "released", r[0].Deliveries, int16(2))
	want(t, "delete non-empty", errors.Is(e.c.DeleteGroup(ctx, "g"), kerr.NonEmptyGroup), true)
	if _, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: -1}); err != nil {
		t.Fatal(err)
	}
	want(t, "delete", e.c.DeleteGroup(ctx, "g"), nil)
	want(t, "gone", e.c.IsShareGroup("g"), false)
}

func TestRecoveryFromLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.earliest("g")
	lock := "15000"
	if err := e.c.AlterConfigs(ctx, "g", []ConfigOp{{Name: "share.record.lock.duration.ms", Value: &lock}}, false); err != nil {
		t.Fatal(err)
	}
	r, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: 0, Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	e.topics.set(tp0, 0, 10)
	e.c.Acquire("g", "a", tp0, 0, 1<<62, 10)
	// 0-2 accepted, 3 rejected, 4 released, 5-9 still acquired.
	if _, err := e.c.Acknowledge("g", "a", tp0, []AckBatch{{First: 0, Last: 4, Types: []int8{1, 1, 1, 3, 2}}}, false); err != nil {
		t.Fatal(err)
	}
	if err := e.ack("g", "a", 6, 6, AckAccept); err != nil {
		t.Fatal(err)
	}
	// The other group's and a deleted group's state must not leak.
	e.c.Acquire("h", "z", tp0, 0, 1<<62, 1)
	e.restart()

	want(t, "spso", e.spso("g"), 4)
	want(t, "lock config", e.c.LockDuration("g"), 15*time.Second)
	got := e.c.Acquire("g", "b", tp0, 0, 1<<62, 100)
	exp := []Range{{First: 4, Last: 5, Deliveries: 2}, {First: 7, Last: 9, Deliveries: 2}}
	if !slices.Equal(got, exp) {
		t.Fatalf("after restart acquired %v, want %v (6 was accepted)", got, exp)
	}
	// Members are not durable, the group epoch is: a rejoin moves on.
	_, err = e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: r.Epoch})
	want(t, "member forgotten", errors.Is(err, kerr.UnknownMemberID), true)
	r2, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: 0, Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Epoch <= r.Epoch {
		t.Fatalf("group epoch went back: %d after %d", r2.Epoch, r.Epoch)
	}

	// Accept everything; AlterShareGroupOffsets on an empty group; a
	// deleted group stays deleted.
	want(t, "ack over an accepted record", errors.Is(e.ack("g", "b", 4, 9, AckAccept), kerr.InvalidRecordState), true)
	if _, err := e.c.Acknowledge("g", "b", tp0, []AckBatch{{First: 4, Last: 5, Types: []int8{1}}, {First: 7, Last: 9, Types: []int8{1}}}, false); err != nil {
		t.Fatal(err)
	}
	want(t, "all accepted", e.spso("g"), 10)
	if _, err := e.c.Heartbeat(ctx, HeartbeatRequest{Group: "g", Member: "a", Epoch: -1}); err != nil {
		t.Fatal(err)
	}
	want(t, "alter", e.c.AlterOffsets(ctx, "g", map[TP]int64{tp0: 7}), nil)
	want(t, "delete h", e.c.DeleteGroup(ctx, "h"), nil)
	e.restart()
	want(t, "altered spso", e.spso("g"), 7)
	want(t, "h deleted", e.c.IsShareGroup("h"), false)
	want(t, "delete offsets", e.c.DeleteOffsets(ctx, "g", [][16]byte{topicT.ID}), nil)
	e.restart()
	want(t, "offsets deleted", e.spso("g"), -1)
}

func TestRecordsRoundTrip(t *testing.T) {
	runs := []stateRun{{First: 5, Count: 3, State: Acknowledged}, {First: 9, Count: 1, State: Available, Deliveries: 2}}
	en, ok, err := decodeEntry(partitionKey("grp", tp0), partitionValue(5, runs))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want(t, "group", en.group, "grp")
	want(t, "tp", en.tp, tp0)
	want(t, "runs", slices.Equal(en.runs, runs), true)
	if _, _, err := decodeEntry(partitionKey("grp", tp0), []byte{0, 0, 1}); err == nil {
		t.Fatal("truncated value decoded")
	}
	if _, ok, err := decodeEntry([]byte{0, 9, 0, 0}, nil); ok || err != nil {
		t.Fatal("unknown kind not skipped", ok, err)
	}
	p := restore(5, runs)
	want(t, "restored spso", p.spso, int64(8))
	want(t, "restored window", p.end(), int64(10))
}

func TestGroupConfigs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bad := "sometimes"
	err := e.c.AlterConfigs(ctx, "g", []ConfigOp{{Name: "share.auto.offset.reset", Value: &bad}}, false)
	want(t, "bad value", errors.Is(err, kerr.InvalidConfig), true)
	err = e.c.AlterConfigs(ctx, "g", []ConfigOp{{Name: "nope", Value: &bad}}, false)
	want(t, "bad name", errors.Is(err, kerr.InvalidConfig), true)
	e.earliest("g")
	cs := e.c.DescribeConfigs("g", []string{"share.auto.offset.reset", "share.record.lock.duration.ms"})
	want(t, "described", len(cs), 2)
	want(t, "set", cs[0], ConfigEntry{Name: "share.auto.offset.reset", Value: "earliest", Dynamic: true})
	want(t, "default", cs[1], ConfigEntry{Name: "share.record.lock.duration.ms", Value: "30000"})
	if err := e.c.AlterConfigs(ctx, "g", []ConfigOp{{Name: "share.auto.offset.reset", Op: 1}}, false); err != nil {
		t.Fatal(err)
	}
	want(t, "deleted", e.c.DescribeConfigs("g", []string{"share.auto.offset.reset"})[0].Value, "latest")
}
