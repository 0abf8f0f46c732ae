package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

var quiet = slog.New(slog.DiscardHandler)

// ---- record batches ----

type rec struct {
	key, value []byte
	ts         int64
}

// buildBatch encodes recs as a valid, uncompressed v2 record batch with
// kmsg (an encoder independent of package batch) and returns it with its
// validated header.
func buildBatch(tb testing.TB, recs []rec) ([]byte, batch.Header) {
	tb.Helper()
	if len(recs) == 0 {
		tb.Fatal("buildBatch: no records")
	}
	baseTs, maxTs := recs[0].ts, recs[0].ts
	for _, r := range recs {
		maxTs = max(maxTs, r.ts)
	}
	var section []byte
	for i, r := range recs {
		kr := kmsg.Record{TimestampDelta64: r.ts - baseTs, OffsetDelta: int32(i), Key: r.key, Value: r.value}
		// Length covers what follows it; encoding once with Length 0 (one
		// varint byte) measures that.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		section = kr.AppendTo(section)
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(batch.HeaderSize - 12 + len(section)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       baseTs,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              section,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	h, err := batch.Validate(b)
	if err != nil {
		tb.Fatalf("buildBatch: %v", err)
	}
	return b, h
}

// idBatch builds a batch of n records whose values are "<id>/<i>" padded
// with pad bytes, all with timestamp ts.
func idBatch(tb testing.TB, id string, n int, ts int64, pad int) ([]byte, batch.Header) {
	tb.Helper()
	recs := make([]rec, n)
	for i := range recs {
		v := fmt.Sprintf("%s/%d", id, i)
		if pad > 0 {
			v += "|" + strings.Repeat("x", pad)
		}
		recs[i] = rec{key: []byte(id), value: []byte(v), ts: ts}
	}
	return buildBatch(tb, recs)
}

// readBatch is one batch as a read returned it, decoded.
type readBatch struct {
	h      batch.Header
	id     string // from the first record's key
	values []string
	ts     []int64
}

func decodeBatches(tb testing.TB, records []byte) []readBatch {
	tb.Helper()
	var out []readBatch
	it := batch.NewIter(records)
	for {
		_, raw, ok := it.Next()
		if !ok {
			break
		}
		h, err := batch.Validate(raw)
		if err != nil {
			tb.Fatalf("read returned an invalid batch: %v", err)
		}
		rb := readBatch{h: h}
		err = batch.Records(raw, func(r batch.Record) bool {
			if rb.id == "" {
				rb.id = string(r.Key)
			}
			v, _, _ := strings.Cut(string(r.Value), "|")
			rb.values = append(rb.values, v)
			rb.ts = append(rb.ts, r.Timestamp)
			return true
		})
		if err != nil {
			tb.Fatalf("decode records: %v", err)
		}
		out = append(out, rb)
	}
	if err := it.Err(); err != nil {
		tb.Fatalf("read returned a malformed batch run: %v", err)
	}
	return out
}

// ---- clock ----

type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// topicDefaults are the broker defaults the tests run with: delete policy,
// unlimited retention.
var topicDefaults = map[string]string{"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}

func topicConfig(set map[string]string, name string) string {
	if v, ok := set[name]; ok {
		return v
	}
	return topicDefaults[name]
}

// ---- environment ----

const (
	memWAL  = "memory"
	fileWAL = "file"
)

// env is one broker's storage (WAL, object store, metadata) across engine
// restarts and crashes.
type env struct {
	t     testing.TB
	kind  string
	cfg   engine.Config // template; WAL set on each open
	mem   *wal.Memory
	dir   string
	ffs   *wal.FaultFS
	file  *wal.File
	store *objstore.Faulty
	kv    *meta.Faulty
	clock *clock
	e     *engine.Engine

	noTrim  atomic.Bool   // the WAL ignores Trim (crash between commit and trim)
	maxTrim atomic.Uint64 // largest Trim argument seen
	trims   atomic.Int64
}

// trackWAL wraps the WAL to record and optionally drop Trim calls.
type trackWAL struct {
	wal.WAL
	env *env
}

func (w *trackWAL) Trim(seq uint64) error {
	w.env.trims.Add(1)
	for {
		cur := w.env.maxTrim.Load()
		if seq <= cur || w.env.maxTrim.CompareAndSwap(cur, seq) {
			break
		}
	}
	if w.env.noTrim.Load() {
		return nil
	}
	return w.WAL.Trim(seq)
}

// fastConfig is the engine configuration most tests use: quick uploads,
// background retention, GC and sweeps out of the way (tests call them).
func fastConfig() engine.Config {
	return engine.Config{
		Logger:                 quiet,
		TopicConfig:            topicConfig,
		UploadInterval:         20 * time.Millisecond,
		RetentionCheckInterval: time.Hour,
		GCInterval:             time.Hour,
		OrphanSweepInterval:    time.Hour,
		OrphanGrace:            time.Hour,
	}
}

// newEnv creates storage of the given WAL kind and opens an engine on it.
func newEnv(t testing.TB, kind string, mutate func(*engine.Config)) *env {
	t.Helper()
	v := &env{
		t:     t,
		kind:  kind,
		cfg:   fastConfig(),
		store: objstore.NewFaulty(objstore.NewMemory()),
		kv:    meta.NewFaulty(meta.NewMemory()),
		clock: newClock(),
	}
	v.cfg.Now = v.clock.Now
	if mutate != nil {
		mutate(&v.cfg)
	}
	v.cfg.Store = v.store
	v.cfg.Meta = v.kv
	switch kind {
	case memWAL:
		v.mem = wal.NewMemory()
	case fileWAL:
		v.dir = t.TempDir()
		v.openFile()
	default:
		t.Fatalf("unknown wal kind %q", kind)
	}
	v.open()
	t.Cleanup(v.shutdown)
	return v
}

func (v *env) openFile() {
	v.t.Helper()
	v.ffs = wal.NewFaultFS(nil)
	f, err := wal.OpenFile(v.dir, wal.FileOptions{FS: v.ffs, SegmentBytes: 8 << 10, Logger: quiet})
	if err != nil {
		v.t.Fatalf("open file wal: %v", err)
	}
	v.file = f
}

func (v *env) currentWAL() wal.WAL {
	if v.kind == memWAL {
		return v.mem
	}
	return v.file
}

// open opens an engine on the current WAL.
func (v *env) open() {
	v.t.Helper()
	if err := v.tryOpen(); err != nil {
		v.t.Fatalf("open engine: %v", err)
	}
}

func (v *env) tryOpen() error {
	cfg := v.cfg
	cfg.WAL = &trackWAL{WAL: v.currentWAL(), env: v}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		return err
	}
	v.e = e
	return nil
}

// closeWAL closes the current WAL and reopens its durable contents (a
// clean restart of the WAL).
func (v *env) reopenWAL() {
	v.t.Helper()
	switch v.kind {
	case memWAL:
		_ = v.mem.Close()
		v.mem = v.mem.Reopen()
	case fileWAL:
		_ = v.file.Close()
		v.openFile()
	}
}

// restart closes the engine cleanly and opens a new one on the same storage.
func (v *env) restart() {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.e.Close(ctx); err != nil {
		v.t.Logf("engine close: %v", err)
	}
	v.reopenWAL()
	v.open()
}

// crash kills the engine as kill -9 would: for the file WAL, the disk
// freezes first (nothing more is written or synced), then the engine's
// goroutines stop. snapshot runs after the kill and before the WAL is
// reopened: what it sees as acknowledged was acknowledged before the crash.
// Then a new engine opens on what survived.
func (v *env) crash(snapshot func()) {
	v.t.Helper()
	if v.kind == fileWAL {
		for _, op := range []wal.Op{wal.OpCreate, wal.OpRemove, wal.OpSyncDir, wal.OpWrite, wal.OpSync, wal.OpTruncate} {
			v.ffs.FailAfter(op, 0, nil)
		}
	}
	v.e.Kill()
	if snapshot != nil {
		snapshot()
	}
	switch v.kind {
	case memWAL:
		old := v.mem
		v.mem = old.Reopen()
		_ = old.Close() // stops its goroutine; late callbacks go to the dead engine
	case fileWAL:
		_ = v.file.Close()
		v.openFile()
	}
	v.open()
}

func (v *env) shutdown() {
	if v.e != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = v.e.Close(ctx)
		cancel()
	}
	_ = v.currentWAL().Close()
}

func (v *env) createTopic(name string, parts int32, configs map[string]string) *engine.Topic {
	v.t.Helper()
	t, err := v.e.CreateTopic(context.Background(), name, parts, configs, false)
	if err != nil {
		v.t.Fatalf("create topic %s: %v", name, err)
	}
	return t
}

func (v *env) part(topic string, i int32) *engine.Partition {
	v.t.Helper()
	t := v.e.Topic(topic)
	if t == nil {
		v.t.Fatalf("topic %s missing", topic)
	}
	if int(i) >= len(t.Partitions) {
		v.t.Fatalf("topic %s has %d partitions, want %d", topic, len(t.Partitions), i)
	}
	return t.Partitions[i]
}

// produce appends one batch and waits for its acknowledgement.
func produce(tb testing.TB, p *engine.Partition, raw []byte, h batch.Header) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := p.Append(ctx, raw, h, false)
	if err != nil {
		tb.Fatalf("append to %s: %v", p, err)
	}
	if err := a.Wait(ctx); err != nil {
		tb.Fatalf("wait for %s: %v", p, err)
	}
	return a.BaseOffset
}

// sent is one acknowledged batch.
type sent struct {
	id   string
	base int64
	n    int
}

// produceN appends count batches of recs records each, ids prefix-<i>.
func produceN(tb testing.TB, p *engine.Partition, prefix string, count, recs int, ts int64, pad int) []sent {
	tb.Helper()
	var out []sent
	for i := range count {
		id := fmt.Sprintf("%s-%d", prefix, i)
		raw, h := idBatch(tb, id, recs, ts, pad)
		out = append(out, sent{id: id, base: produce(tb, p, raw, h), n: recs})
	}
	return out
}

// readAll reads p from offset from to its high watermark in fetches of at
// most maxBytes and checks that the batches are valid and contiguous.
func readAll(tb testing.TB, p *engine.Partition, from int64, maxBytes int) []readBatch {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []readBatch
	off := from
	for {
		res, err := p.Read(ctx, off, maxBytes)
		if err != nil {
			tb.Fatalf("read %s at %d: %v", p, off, err)
		}
		if off >= res.HW {
			if len(res.Records) != 0 {
				tb.Fatalf("read %s at hw %d returned %d bytes", p, off, len(res.Records))
			}
			return out
		}
		bs := decodeBatches(tb, res.Records)
		if len(bs) == 0 {
			tb.Fatalf("read %s at %d (hw %d) returned no batch", p, off, res.HW)
		}
		for _, b := range bs {
			if len(out) == 0 && off == from {
				if b.h.BaseOffset > off || b.h.LastOffset() < off {
					tb.Fatalf("read %s at %d: first batch covers %d..%d", p, off, b.h.BaseOffset, b.h.LastOffset())
				}
			} else if b.h.BaseOffset != off {
				tb.Fatalf("read %s: batch at %d where %d was due (gap or duplicate)", p, b.h.BaseOffset, off)
			}
			if b.h.LastOffset() >= res.HW {
				tb.Fatalf("read %s: batch %d..%d at or past hw %d", p, b.h.BaseOffset, b.h.LastOffset(), res.HW)
			}
			out = append(out, b)
			off = b.h.LastOffset() + 1
		}
	}
}

// checkLog reads all of p and checks that every batch in want sits at its
// offset with its records, and that no batch id appears twice.
func checkLog(tb testing.TB, p *engine.Partition, want []sent) []readBatch {
	tb.Helper()
	logStart, _, _, _ := p.Offsets()
	got := readAll(tb, p, logStart, 1<<20)
	byBase := map[int64]readBatch{}
	seen := map[string]int64{}
	for _, b := range got {
		byBase[b.h.BaseOffset] = b
		if prev, dup := seen[b.id]; dup {
			tb.Fatalf("%s: batch %s at %d and again at %d", p, b.id, prev, b.h.BaseOffset)
		}
		seen[b.id] = b.h.BaseOffset
	}
	for _, w := range want {
		if w.base < logStart {
			continue
		}
		b, ok := byBase[w.base]
		if !ok {
			tb.Fatalf("%s: acknowledged batch %s at %d is lost (log start %d, %d batches read)", p, w.id, w.base, logStart, len(got))
		}
		if b.id != w.id || len(b.values) != w.n {
			tb.Fatalf("%s: at %d found batch %s with %d records, want %s with %d", p, w.base, b.id, len(b.values), w.id, w.n)
		}
		for i, val := range b.values {
			if want := fmt.Sprintf("%s/%d", w.id, i); val != want {
				tb.Fatalf("%s: record %d of batch at %d is %q, want %q", p, i, w.base, val, want)
			}
		}
	}
	return got
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitUploaded waits until everything below the high watermark of p is
// committed to object storage.
func waitUploaded(tb testing.TB, p *engine.Partition) {
	tb.Helper()
	waitFor(tb, 10*time.Second, "upload of "+p.String(), func() bool {
		_, hw, _, _ := p.Offsets()
		return p.UploadedEnd() >= hw
	})
}

// storeKeys lists the data objects in the store, behind any fault.
func storeKeys(tb testing.TB, s objstore.Store) []string {
	tb.Helper()
	var keys []string
	err := s.List(context.Background(), "data/", func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		tb.Fatalf("list store: %v", err)
	}
	return keys
}

// metaKeys lists metadata keys under prefix.
func metaKeys(tb testing.TB, kv meta.KV, prefix string) []string {
	tb.Helper()
	kvs, err := kv.List(context.Background(), prefix)
	if err != nil {
		tb.Fatalf("list meta: %v", err)
	}
	var keys []string
	for _, x := range kvs {
		keys = append(keys, x.Key)
	}
	return keys
}

func uniq(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// isCommitTxn matches the metadata transaction that commits an object's
// ranges.
func isCommitTxn(_ []meta.Cond, ops []meta.Op) bool {
	for _, op := range ops {
		if !op.Delete && strings.HasPrefix(op.Key, "objs/") {
			return true
		}
	}
	return false
}

var errPut = errors.New("injected put failure")

// ackLog collects acknowledged batches from concurrent producers.
type ackLog struct {
	mu   sync.Mutex
	acks map[string][]sent // by partition name
}

func (l *ackLog) add(p *engine.Partition, s sent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.acks == nil {
		l.acks = map[string][]sent{}
	}
	l.acks[p.String()] = append(l.acks[p.String()], s)
}

func (l *ackLog) snapshot() map[string][]sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]sent{}
	for k, v := range l.acks {
		out[k] = slices.Clone(v)
	}
	return out
}
