package api_test

// Data-path tests against a full in-process broker: Produce and Fetch
// through franz-go and through raw requests at every advertised version,
// fetch wait semantics and limits, produce validation, LogAppendTime,
// reads from object storage, and a comparison with kfake.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/node/nodetest"
	"github.com/weirdb/weir/internal/storage/objstore"
)

// ---- helpers ----

// ptFetchReq fetches one partition from offset at version v, without
// waiting, by name and (v13+) topic ID.
func ptFetchReq(v int16, tp *engine.Topic, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(v)
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionID = 0
	req.SessionEpoch = -1
	dtAddFetch(req, tp, partition, offset)
	return req
}

// dtAddFetch adds a partition to a fetch request.
func dtAddFetch(req *kmsg.FetchRequest, tp *engine.Topic, partition int32, offset int64) {
	var rt *kmsg.FetchRequestTopic
	for i := range req.Topics {
		if req.Topics[i].Topic == tp.Name {
			rt = &req.Topics[i]
		}
	}
	if rt == nil {
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = tp.Name, tp.ID
		req.Topics = append(req.Topics, t)
		rt = &req.Topics[len(req.Topics)-1]
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 10 << 20
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
}

// dtFetch sends req at its version and returns the response.
func dtFetch(t testing.TB, c *ptConn, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	t.Helper()
	return ptDo[*kmsg.FetchResponse](t, c, req, req.GetVersion())
}

// dtPart returns the only partition of a fetch response.
func dtPart(t testing.TB, resp *kmsg.FetchResponse) *kmsg.FetchResponseTopicPartition {
	t.Helper()
	ptCode(t, "fetch", resp.ErrorCode, nil)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch: want one topic with one partition, got %+v", resp.Topics)
	}
	return &resp.Topics[0].Partitions[0]
}

// dtDecode decodes a fetched partition's records at or after from, as a
// client would (CRC checked, decompressed).
func dtDecode(t testing.TB, topic string, sp *kmsg.FetchResponseTopicPartition, from int64) []*kgo.Record {
	t.Helper()
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: sp.Partition, Offset: from}, sp, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatalf("decode fetched %s-%d: %v", topic, sp.Partition, fp.Err)
	}
	return fp.Records
}

// dtBatchAttrs lists the attributes of each batch in a fetch's record
// bytes, checking the framing.
func dtBatchAttrs(t testing.TB, b []byte) []int16 {
	t.Helper()
	var out []int16
	for len(b) > 0 {
		if len(b) < 61 {
			t.Fatalf("%d trailing bytes in fetched records", len(b))
		}
		size := 12 + int(binary.BigEndian.Uint32(b[8:]))
		if size > len(b) || b[16] != 2 {
			t.Fatalf("bad batch framing: size %d of %d, magic %d", size, len(b), b[16])
		}
		out = append(out, int16(binary.BigEndian.Uint16(b[21:])))
		b = b[size:]
	}
	return out
}

func dtValues(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// dtConsume reads n records from the start of topic with a fresh client.
func dtConsume(t testing.TB, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)
	cl := nodetest.Client(t, addr, opts...)
	return dtPoll(t, cl, n)
}

func dtPoll(t testing.TB, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timing out", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("consume %s-%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

func dtSorted(recs []*kgo.Record) []ptRecordView {
	out := make([]ptRecordView, len(recs))
	for i, r := range recs {
		out[i] = ptView(r)
	}
	slices.SortFunc(out, func(a, b ptRecordView) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}

func dtSame(t testing.TB, want, got []*kgo.Record) {
	t.Helper()
	w, g := dtSorted(want), dtSorted(got)
	if len(w) != len(g) {
		t.Fatalf("consumed %d records, produced %d", len(g), len(w))
	}
	for i := range w {
		if !reflect.DeepEqual(w[i], g[i]) {
			t.Fatalf("record %d differs:\n produced %+v\n consumed %+v", i, w[i], g[i])
		}
	}
}

// dtRecords is a varied set of records over partitions: keys, null and
// empty keys, empty and null values, headers, explicit timestamps, and a
// long run in partition 0.
func dtRecords(topic string, partitions int32, many int) []*kgo.Record {
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var out []*kgo.Record
	add := func(p int32, key, value []byte, hs ...kgo.RecordHeader) {
		out = append(out, &kgo.Record{Topic: topic, Partition: p, Key: key, Value: value, Headers: hs,
			Timestamp: base.Add(time.Duration(len(out)) * time.Millisecond)})
	}
	for p := int32(0); p < partitions; p++ {
		add(p, []byte("key"), []byte(strings.Repeat("compressible value ", 20)))
		add(p, nil, []byte("null key"))
		add(p, []byte{}, []byte("empty key"))
		add(p, []byte("empty value"), []byte{})
		add(p, []byte("null value"), nil)
		add(p, []byte("headers"), []byte("v"),
			kgo.RecordHeader{Key: "h1", Value: []byte("one")},
			kgo.RecordHeader{Key: "h1", Value: []byte("dup")},
			kgo.RecordHeader{Key: "empty", Value: []byte{}},
			kgo.RecordHeader{Key: "ütf8-☃", Value: []byte{0, 1, 2, 255}})
		add(p, bytes.Repeat([]byte{0}, 300), bytes.Repeat([]byte("binary\x00\xff"), 500))
	}
	for i := 0; i < many; i++ {
		add(int32(i)%partitions, []byte(fmt.Sprintf("k%d", i%17)), []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("x", i%100))))
	}
	return out
}

func dtProduceSync(t testing.TB, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// ---- round trips ----

func TestDataRoundTripCodecs(t *testing.T) {
	t.Parallel()
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		bits  int16
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			n, addr := ptBroker(t)
			tp := ptTopic(t, n, "rt-"+cc.name, 3, nil)
			prod := nodetest.Client(t, addr,
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.ProducerBatchCompression(cc.codec))
			recs := dtRecords(tp.Name, 3, 1000)
			dtProduceSync(t, prod, recs)
			dtSame(t, recs, dtConsume(t, addr, tp.Name, len(recs)))

			// The broker stores and serves batches as produced:
			// every batch keeps the producer's codec.
			c := ptDial(t, addr)
			for p := int32(0); p < 3; p++ {
				sp := dtPart(t, dtFetch(t, c, ptFetchReq(16, tp, p, 0)))
				attrs := dtBatchAttrs(t, sp.RecordBatches)
				if len(attrs) == 0 {
					t.Fatalf("partition %d: no batches", p)
				}
				for _, a := range attrs {
					if a&7 != cc.bits {
						t.Fatalf("partition %d: batch codec %d, want %d", p, a&7, cc.bits)
					}
				}
			}
		})
	}
}

func TestDataRoundTripAcks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		acks kgo.Acks
	}{{"0", kgo.NoAck()}, {"1", kgo.LeaderAck()}, {"all", kgo.AllISRAcks()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, addr := ptBroker(t)
			tp := ptTopic(t, n, "acks", 2, nil)
			opts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(tc.acks)}
			if tc.name != "all" {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			prod := nodetest.Client(t, addr, opts...)
			recs := dtRecords(tp.Name, 2, 300)
			dtProduceSync(t, prod, recs)
			got := dtConsume(t, addr, tp.Name, len(recs))
			if tc.name == "0" {
				// No offsets come back with acks=0; compare per
				// partition in order.
				for p := int32(0); p < 2; p++ {
					var w, g []string
					for _, r := range recs {
						if r.Partition == p {
							w = append(w, string(r.Value))
						}
					}
					for _, r := range got {
						if r.Partition == p {
							g = append(g, string(r.Value))
						}
					}
					if !slices.Equal(w, g) {
						t.Fatalf("partition %d: consumed values differ from produced", p)
					}
				}
				return
			}
			dtSame(t, recs, got)
		})
	}
}

// TestDataVersions produces with every advertised Produce version and
// fetches with every advertised Fetch version, raw and through franz-go
// pinned to each version.
func TestDataVersions(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "versions", 1, nil)
	c := ptDial(t, addr)
	now := time.Now().UnixMilli()
	var want []string
	for v := int16(3); v <= 13; v++ {
		vals := []string{fmt.Sprintf("v%d-a", v), fmt.Sprintf("v%d-b", v)}
		name := tp.Name
		if v >= 13 {
			name = "" // v13 addresses the topic by ID only
		}
		resp := ptDo[*kmsg.ProduceResponse](t, c, ptProduceReq(v, tp, name, 0, -1, ptValues(now, vals...)), v)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("produce v%d: malformed response", v)
		}
		if v >= 13 && resp.Topics[0].TopicID != tp.ID {
			t.Fatalf("produce v%d: topic ID %x, want %x", v, resp.Topics[0].TopicID, tp.ID)
		}
		sp := resp.Topics[0].Partitions[0]
		what := fmt.Sprintf("produce v%d", v)
		ptCode(t, what, sp.ErrorCode, nil)
		if sp.BaseOffset != int64(len(want)) {
			t.Fatalf("%s: base offset %d, want %d", what, sp.BaseOffset, len(want))
		}
		if sp.LogAppendTime != -1 {
			t.Fatalf("%s: log append time %d on a CreateTime topic", what, sp.LogAppendTime)
		}
		if v >= 5 && sp.LogStartOffset != 0 {
			t.Fatalf("%s: log start offset %d", what, sp.LogStartOffset)
		}
		if v >= 10 && (sp.CurrentLeader.LeaderID != -1 || sp.CurrentLeader.LeaderEpoch != -1) {
			t.Fatalf("%s: current leader %+v sent without a NOT_LEADER error", what, sp.CurrentLeader)
		}
		want = append(want, vals...)
	}
	end := int64(len(want))
	for v := int16(4); v <= 18; v++ {
		what := fmt.Sprintf("fetch v%d", v)
		req := ptFetchReq(v, tp, 0, 0)
		if v >= 13 {
			req.Topics[0].Topic = ""
		}
		resp := dtFetch(t, c, req)
		if v >= 7 && resp.SessionID != 0 {
			t.Fatalf("%s: session %d created; Weir is sessionless", what, resp.SessionID)
		}
		if v >= 13 && resp.Topics[0].TopicID != tp.ID {
			t.Fatalf("%s: topic ID %x, want %x", what, resp.Topics[0].TopicID, tp.ID)
		}
		sp := dtPart(t, resp)
		ptCode(t, what, sp.ErrorCode, nil)
		if got := dtValues(dtDecode(t, tp.Name, sp, 0)); !slices.Equal(got, want) {
			t.Fatalf("%s: values %q, want %q", what, got, want)
		}
		if sp.HighWatermark != end || sp.LastStableOffset != end {
			t.Fatalf("%s: HW %d LSO %d, want %d", what, sp.HighWatermark, sp.LastStableOffset, end)
		}
		if v >= 5 && sp.LogStartOffset != 0 {
			t.Fatalf("%s: log start offset %d", what, sp.LogStartOffset)
		}
		if v >= 11 && sp.PreferredReadReplica != -1 {
			t.Fatalf("%s: preferred read replica %d", what, sp.PreferredReadReplica)
		}
		if v >= 12 {
			// Tagged fields must be absent (decoded as their -1
			// defaults): a DivergingEpoch makes Java consumers drop
			// the records and truncate.
			if sp.DivergingEpoch.Epoch != -1 || sp.DivergingEpoch.EndOffset != -1 {
				t.Fatalf("%s: diverging epoch %+v sent", what, sp.DivergingEpoch)
			}
			if sp.CurrentLeader.LeaderID != -1 || sp.CurrentLeader.LeaderEpoch != -1 {
				t.Fatalf("%s: current leader %+v sent", what, sp.CurrentLeader)
			}
			if sp.SnapshotID.Epoch != -1 || sp.SnapshotID.EndOffset != -1 {
				t.Fatalf("%s: snapshot ID %+v sent", what, sp.SnapshotID)
			}
		}
		// read_committed: the same records, LSO = HW, no aborted
		// transactions.
		rc := ptFetchReq(v, tp, 0, 0)
		rc.IsolationLevel = 1
		if v >= 13 {
			rc.Topics[0].Topic = ""
		}
		rsp := dtPart(t, dtFetch(t, c, rc))
		if got := dtValues(dtDecode(t, tp.Name, rsp, 0)); !slices.Equal(got, want) || rsp.LastStableOffset != end || len(rsp.AbortedTransactions) != 0 {
			t.Fatalf("%s read_committed: values %q LSO %d aborted %v", what, got, rsp.LastStableOffset, rsp.AbortedTransactions)
		}
		// Offsets and leader epochs were assigned in the batch headers.
		next := int64(0)
		for b := sp.RecordBatches; len(b) > 0; b = b[12+int(binary.BigEndian.Uint32(b[8:])):] {
			if base := int64(binary.BigEndian.Uint64(b)); base != next {
				t.Fatalf("%s: batch base offset %d, want %d", what, base, next)
			}
			if e := int32(binary.BigEndian.Uint32(b[12:])); e != tp.Partitions[0].Epoch() {
				t.Fatalf("%s: batch leader epoch %d, want %d", what, e, tp.Partitions[0].Epoch())
			}
			next += int64(binary.BigEndian.Uint32(b[23:])) + 1
		}
		// From the middle: the batch holding the offset comes back
		// whole; the client skips what it did not ask for.
		sp = dtPart(t, dtFetch(t, c, ptFetchReq(v, tp, 0, 5)))
		if got := dtValues(dtDecode(t, tp.Name, sp, 5)); !slices.Equal(got, want[5:]) {
			t.Fatalf("%s from 5: values %q, want %q", what, got, want[5:])
		}
	}

	// franz-go pinned to each version, end to end.
	kt := ptTopic(t, n, "versions-kgo", 2, nil)
	var produced []*kgo.Record
	for v := int16(3); v <= 13; v++ {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(0, v)
		prod := nodetest.Client(t, addr, kgo.MaxVersions(vs), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		recs := dtRecords(kt.Name, 2, 10)
		dtProduceSync(t, prod, recs)
		produced = append(produced, recs...)
		prod.Close()
	}
	for v := int16(4); v <= 18; v++ {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(1, v)
		dtSame(t, produced, dtConsume(t, addr, kt.Name, len(produced), kgo.MaxVersions(vs)))
	}
}

// TestDataConcurrent runs several producers and long-polling consumers at
// once: every record arrives once, in each producer's order per partition.
func TestDataConcurrent(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "busy", 4, nil)
	const producers, perProducer = 6, 300
	cons := nodetest.Client(t, addr, kgo.ConsumeTopics(tp.Name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	done := make(chan []*kgo.Record, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
		defer cancel()
		var out []*kgo.Record
		for len(out) < producers*perProducer && ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			out = append(out, fs.Records()...)
		}
		done <- out
	}()
	errs := make(chan error, producers)
	for i := 0; i < producers; i++ {
		go func() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(time.Millisecond))
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
			defer cancel()
			for j := 0; j < perProducer; j++ {
				r := &kgo.Record{Topic: tp.Name, Key: []byte(fmt.Sprintf("p%d-%d", i, j%4)), Value: []byte(fmt.Sprintf("%d/%d", i, j))}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			errs <- cl.Flush(ctx)
		}()
	}
	for i := 0; i < producers; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("producer: %v", err)
		}
	}
	got := <-done
	if len(got) != producers*perProducer {
		t.Fatalf("consumed %d of %d", len(got), producers*perProducer)
	}
	// Per partition, offsets are dense and each producer's values keep
	// their order.
	next := map[int32]int64{}
	last := map[[2]int32]int{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		var i, j int
		fmt.Sscanf(string(r.Value), "%d/%d", &i, &j)
		k := [2]int32{r.Partition, int32(i)}
		if prev, ok := last[k]; ok && j <= prev {
			t.Fatalf("partition %d: producer %d record %d after %d", r.Partition, i, j, prev)
		}
		last[k] = j
	}
}

// ---- fetch semantics ----

func TestDataFetchLongPoll(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "poll", 2, nil)
	waiter := ptDial(t, addr)
	writer := ptDial(t, addr)

	// Woken by a produce to any partition it reads, well before MaxWait.
	for _, p := range []int32{0, 1} {
		req := ptFetchReq(12, tp, 0, int64(p)) // partition 0 at its HW (0, then 1)
		dtAddFetch(req, tp, 1, 0)
		req.MaxWaitMillis = 15000
		start := time.Now()
		corr := waiter.send(req)
		time.Sleep(300 * time.Millisecond)
		ptMustProduce(t, writer, tp, p, ptValues(time.Now().UnixMilli(), "wake"))
		resp, err := waiter.recv(req, corr)
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if elapsed > 10*time.Second {
			t.Fatalf("produce to partition %d: fetch returned after %v, not woken", p, elapsed)
		}
		if elapsed < 250*time.Millisecond {
			t.Fatalf("produce to partition %d: fetch returned after %v, before any data", p, elapsed)
		}
		got := 0
		for _, sp := range resp.(*kmsg.FetchResponse).Topics[0].Partitions {
			ptCode(t, "woken fetch", sp.ErrorCode, nil)
			got += len(dtDecode(t, tp.Name, &sp, 0))
		}
		if got != 1 {
			t.Fatalf("woken fetch returned %d records, want 1", got)
		}
	}

	// Nothing arrives: the answer comes after MaxWait, empty.
	req := ptFetchReq(12, tp, 0, 1)
	req.MaxWaitMillis = 600
	start := time.Now()
	sp := dtPart(t, dtFetch(t, waiter, req))
	elapsed := time.Since(start)
	if elapsed < 500*time.Millisecond || elapsed > 10*time.Second {
		t.Fatalf("idle fetch with MaxWait 600ms returned after %v", elapsed)
	}
	if len(sp.RecordBatches) != 0 || sp.HighWatermark != 1 || sp.ErrorCode != 0 {
		t.Fatalf("idle fetch: %d bytes, HW %d, %s", len(sp.RecordBatches), sp.HighWatermark, ptErr(sp.ErrorCode))
	}

	// MaxWait 0 answers at once.
	req.MaxWaitMillis = 0
	start = time.Now()
	dtFetch(t, waiter, req)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("fetch with MaxWait 0 took %v", elapsed)
	}

	// An erroring partition answers at once too, whatever MaxWait.
	req = ptFetchReq(12, tp, 0, 1)
	dtAddFetch(req, tp, 9, 0)
	req.MaxWaitMillis = 15000
	start = time.Now()
	resp := dtFetch(t, waiter, req)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("fetch with an unknown partition waited %v", elapsed)
	}
	ptCode(t, "unknown partition", resp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)

	// A connection that closes mid-wait does not disturb the broker.
	gone := ptDial(t, addr)
	req = ptFetchReq(12, tp, 0, 1)
	req.MaxWaitMillis = 30000
	gone.send(req)
	gone.nc.Close()
	ptMustProduce(t, writer, tp, 0, ptValues(time.Now().UnixMilli(), "after close"))
}

func TestDataFetchMinBytes(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "minbytes", 1, nil)
	c := ptDial(t, addr)
	writer := ptDial(t, addr)
	b := ptValues(time.Now().UnixMilli(), "first")
	ptMustProduce(t, writer, tp, 0, b)

	// Not enough bytes ever arrive: wait out MaxWait, then return what
	// there is.
	req := ptFetchReq(12, tp, 0, 0)
	req.MinBytes = 100000
	req.MaxWaitMillis = 800
	start := time.Now()
	sp := dtPart(t, dtFetch(t, c, req))
	if elapsed := time.Since(start); elapsed < 700*time.Millisecond || elapsed > 10*time.Second {
		t.Fatalf("MinBytes unmet, MaxWait 800ms: returned after %v", elapsed)
	}
	if got := dtValues(dtDecode(t, tp.Name, sp, 0)); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("MinBytes unmet: values %q", got)
	}

	// MinBytes is met by a second batch: return then, not at MaxWait.
	req.MinBytes = int32(len(b) + 1)
	req.MaxWaitMillis = 15000
	start = time.Now()
	corr := c.send(req)
	time.Sleep(200 * time.Millisecond)
	ptMustProduce(t, writer, tp, 0, ptValues(time.Now().UnixMilli(), "second"))
	resp, err := c.recv(req, corr)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("MinBytes met after 200ms: returned after %v", elapsed)
	}
	sp = dtPart(t, resp.(*kmsg.FetchResponse))
	if got := dtValues(dtDecode(t, tp.Name, sp, 0)); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("MinBytes met: values %q", got)
	}

	// MinBytes already met: no wait at all.
	req.MinBytes = 1
	start = time.Now()
	dtFetch(t, c, req)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("MinBytes already met: took %v", elapsed)
	}
}

func TestDataFetchMaxBytes(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "maxbytes", 2, nil)
	c := ptDial(t, addr)
	now := time.Now().UnixMilli()
	var size int
	for i := 0; i < 5; i++ {
		b := ptValues(now, fmt.Sprintf("p0-%d-%s", i, strings.Repeat("x", 1000)))
		size = len(b)
		ptMustProduce(t, c, tp, 0, b)
	}
	for i := 0; i < 2; i++ {
		ptMustProduce(t, c, tp, 1, ptValues(now, fmt.Sprintf("p1-%d-%s", i, strings.Repeat("y", 1000))))
	}
	big := ptValues(now, strings.Repeat("z", 100<<10))
	bigTopic := ptTopic(t, n, "maxbytes-big", 1, nil)
	ptMustProduce(t, c, bigTopic, 0, big)
	ptMustProduce(t, c, bigTopic, 0, ptValues(now, "after big"))

	batches := func(sp *kmsg.FetchResponseTopicPartition) int {
		return len(dtBatchAttrs(t, sp.RecordBatches))
	}
	for _, v := range []int16{4, 7, 11, 12, 13, 16, 18} {
		for _, tc := range []struct {
			name                string
			maxBytes, partBytes int32
			want0, want1        int // batches from partitions 0 and 1
		}{
			{"no limits", 50 << 20, 10 << 20, 5, 2},
			{"partition max 2.5 batches", 50 << 20, int32(size * 5 / 2), 2, 2},
			{"max 2.5 batches", int32(size * 5 / 2), 10 << 20, 2, 0},
			{"max 1.5 batches", int32(size * 3 / 2), 10 << 20, 1, 0},
			{"max 3.5 batches", int32(size * 7 / 2), 10 << 20, 3, 0},
			{"max 6.5 batches", int32(size * 13 / 2), 10 << 20, 5, 1},
			{"partition max 1.5 batches", 50 << 20, int32(size * 3 / 2), 1, 1},
			{"partition max below one batch", 50 << 20, 10, 1, 0},
			{"max below one batch", 10, 10 << 20, 1, 0},
		} {
			what := fmt.Sprintf("fetch v%d %s", v, tc.name)
			req := ptFetchReq(v, tp, 0, 0)
			dtAddFetch(req, tp, 1, 0)
			req.MaxBytes = tc.maxBytes
			for i := range req.Topics[0].Partitions {
				req.Topics[0].Partitions[i].PartitionMaxBytes = tc.partBytes
			}
			resp := dtFetch(t, c, req)
			ps := resp.Topics[0].Partitions
			if len(ps) != 2 {
				t.Fatalf("%s: %d partitions", what, len(ps))
			}
			if got0, got1 := batches(&ps[0]), batches(&ps[1]); got0 != tc.want0 || got1 != tc.want1 {
				t.Fatalf("%s: %d and %d batches, want %d and %d", what, got0, got1, tc.want0, tc.want1)
			}
			// A partition left out for lack of room still reports
			// its offsets.
			for i, sp := range ps {
				ptCode(t, what, sp.ErrorCode, nil)
				hw := []int64{5, 2}[i]
				if sp.HighWatermark != hw || sp.LastStableOffset != hw || (v >= 5 && sp.LogStartOffset != 0) {
					t.Fatalf("%s: partition %d HW %d LSO %d log start %d, want %d %d 0", what, i, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset, hw, hw)
				}
			}
		}

		// A single batch larger than every limit is still returned
		// whole, and alone.
		req := ptFetchReq(v, bigTopic, 0, 0)
		req.MaxBytes = 1000
		req.Topics[0].Partitions[0].PartitionMaxBytes = 1000
		sp := dtPart(t, dtFetch(t, c, req))
		if len(sp.RecordBatches) != len(big) {
			t.Fatalf("fetch v%d: oversized batch: got %d bytes, want the whole %d", v, len(sp.RecordBatches), len(big))
		}
		if recs := dtDecode(t, bigTopic.Name, sp, 0); len(recs) != 1 || len(recs[0].Value) != 100<<10 {
			t.Fatalf("fetch v%d: oversized batch did not decode to its record", v)
		}
	}
}

func TestDataFetchErrors(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "ferr", 1, nil)
	c := ptDial(t, addr)
	ptMustProduce(t, c, tp, 0, ptValues(time.Now().UnixMilli(), "a", "b"))
	ptMustProduce(t, c, tp, 0, ptValues(time.Now().UnixMilli(), "c", "d", "e"))

	for _, v := range []int16{4, 5, 9, 12, 13, 15, 18} {
		what := func(s string) string { return fmt.Sprintf("fetch v%d %s", v, s) }
		for _, off := range []int64{6, 100, -1, -100} {
			sp := dtPart(t, dtFetch(t, c, ptFetchReq(v, tp, 0, off)))
			ptCode(t, what(fmt.Sprintf("offset %d", off)), sp.ErrorCode, kerr.OffsetOutOfRange)
			if sp.HighWatermark != 5 || (v >= 5 && sp.LogStartOffset != 0) {
				t.Fatalf("%s: HW %d log start %d", what("out of range"), sp.HighWatermark, sp.LogStartOffset)
			}
			if len(sp.RecordBatches) != 0 {
				t.Fatalf("%s: records with an error", what("out of range"))
			}
		}
		// At the high watermark: empty, no error.
		sp := dtPart(t, dtFetch(t, c, ptFetchReq(v, tp, 0, 5)))
		ptCode(t, what("at HW"), sp.ErrorCode, nil)

		// Unknown partition, unknown topic (by name before v13, by ID
		// after).
		sp = dtPart(t, dtFetch(t, c, ptFetchReq(v, tp, 3, 0)))
		ptCode(t, what("unknown partition"), sp.ErrorCode, kerr.UnknownTopicOrPartition)
		ghost := &engine.Topic{Name: "ghost", ID: engine.TopicID{9, 9, 9}}
		sp = dtPart(t, dtFetch(t, c, ptFetchReq(v, ghost, 0, 0)))
		if v >= 13 {
			ptCode(t, what("unknown topic ID"), sp.ErrorCode, kerr.UnknownTopicID)
		} else {
			ptCode(t, what("unknown topic"), sp.ErrorCode, kerr.UnknownTopicOrPartition)
		}
		if v >= 13 {
			// The name is ignored from v13: a right name with a
			// wrong ID is unknown.
			wrong := &engine.Topic{Name: tp.Name, ID: engine.TopicID{1}}
			ptCode(t, what("right name, wrong ID"), dtPart(t, dtFetch(t, c, ptFetchReq(v, wrong, 0, 0))).ErrorCode, kerr.UnknownTopicID)
		}

		// Leader epoch checks (v9+).
		if v >= 9 {
			req := ptFetchReq(v, tp, 0, 0)
			req.Topics[0].Partitions[0].CurrentLeaderEpoch = tp.Partitions[0].Epoch() + 1
			ptCode(t, what("future leader epoch"), dtPart(t, dtFetch(t, c, req)).ErrorCode, kerr.UnknownLeaderEpoch)
			req.Topics[0].Partitions[0].CurrentLeaderEpoch = tp.Partitions[0].Epoch()
			ptCode(t, what("current leader epoch"), dtPart(t, dtFetch(t, c, req)).ErrorCode, nil)
		}

		// Sessions (v7+): Weir keeps none.
		if v >= 7 {
			req := ptFetchReq(v, tp, 0, 0)
			req.SessionID, req.SessionEpoch = 12345, 1
			resp := dtFetch(t, c, req)
			ptCode(t, what("unknown session"), resp.ErrorCode, kerr.FetchSessionIDNotFound)
			if len(resp.Topics) != 0 {
				t.Fatalf("%s: partitions with a session error", what("unknown session"))
			}
			req.SessionID, req.SessionEpoch = 0, 0 // asks for a new session
			resp = dtFetch(t, c, req)
			ptCode(t, what("new session"), resp.ErrorCode, nil)
			if resp.SessionID != 0 {
				t.Fatalf("%s: session %d created", what("new session"), resp.SessionID)
			}
			if len(dtDecode(t, tp.Name, dtPart(t, resp), 0)) != 5 {
				t.Fatalf("%s: records missing", what("new session"))
			}
			// A full fetch naming a session (epoch -1: closes it in
			// Kafka; kafka-go sends ID -1) is answered in full.
			for _, id := range []int32{-1, 12345} {
				req.SessionID, req.SessionEpoch = id, -1
				resp = dtFetch(t, c, req)
				ptCode(t, what("full fetch with session ID"), resp.ErrorCode, nil)
				if len(dtDecode(t, tp.Name, dtPart(t, resp), 0)) != 5 {
					t.Fatalf("%s: records missing", what("full fetch with session ID"))
				}
			}
			req.SessionID, req.SessionEpoch = 0, 3 // incremental without a session
			resp = dtFetch(t, c, req)
			if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code && resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("%s: %s", what("incremental without session"), ptErr(resp.ErrorCode))
			}
		}
	}

	// DeleteRecords: below the new start is out of range and the start
	// is reported; at it, the batch holding it comes back.
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	if _, err := n.Engine().DeleteRecords(ctx, tp.Partitions[0], 3); err != nil {
		t.Fatal(err)
	}
	sp := dtPart(t, dtFetch(t, c, ptFetchReq(12, tp, 0, 2)))
	ptCode(t, "below log start", sp.ErrorCode, kerr.OffsetOutOfRange)
	if sp.LogStartOffset != 3 {
		t.Fatalf("below log start: log start %d, want 3", sp.LogStartOffset)
	}
	sp = dtPart(t, dtFetch(t, c, ptFetchReq(12, tp, 0, 3)))
	ptCode(t, "at log start", sp.ErrorCode, nil)
	if sp.LogStartOffset != 3 {
		t.Fatalf("at log start: log start %d, want 3", sp.LogStartOffset)
	}
	if got := dtValues(dtDecode(t, tp.Name, sp, 3)); !slices.Equal(got, []string{"d", "e"}) {
		t.Fatalf("at log start: values %q", got)
	}

	// A consumer starting from the beginning starts at the new log start.
	got := dtConsume(t, addr, tp.Name, 2)
	if vals := dtValues(got); !slices.Equal(vals, []string{"d", "e"}) {
		t.Fatalf("consumer after DeleteRecords: %q", vals)
	}
}

// TestDataColdRead reads everything back from object storage: uploads run
// every few milliseconds and nothing stays in the log or block cache. (The
// caches are set to 1 byte: 0, documented as "disabled", is taken by the
// engine as unset and replaced by its 256 MiB default.)
func TestDataColdRead(t *testing.T) {
	t.Parallel()
	store := &dtCountingStore{Store: objstore.NewMemory()}
	n := nodetest.Start(t, nodetest.Options{Store: store, Sets: []string{"weir.upload.interval.ms=5", "weir.log.cache.bytes=1", "weir.block.cache.bytes=1"}})
	addr := n.Addr()
	tp := ptTopic(t, n, "cold", 2, nil)
	c := ptDial(t, addr)
	now := time.Now().Add(-time.Hour).UnixMilli()
	var want [2][]string
	for i := 0; i < 60; i++ {
		p := int32(i % 2)
		vals := []string{fmt.Sprintf("c%d-a-%s", i, strings.Repeat("q", i*10)), fmt.Sprintf("c%d-b", i)}
		ptMustProduce(t, c, tp, p, ptValues(now+int64(i)*10, vals...))
		want[p] = append(want[p], vals...)
	}
	deadline := time.Now().Add(ptTimeout)
	for _, p := range tp.Partitions {
		for p.UploadedEnd() < 60 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: uploaded up to %d of 60", p, p.UploadedEnd())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for st := n.Engine().Stats(); st.CachedBytes > 0 || st.PendingBytes > 0; st = n.Engine().Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("log cache not emptied: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	readsBefore := store.reads.Load()

	for p := int32(0); p < 2; p++ {
		for _, limit := range []int32{1, 500, 3000, 10 << 20} {
			var got []string
			for off := int64(0); off < 60; {
				req := ptFetchReq(12, tp, p, off)
				req.Topics[0].Partitions[0].PartitionMaxBytes = limit
				sp := dtPart(t, dtFetch(t, c, req))
				ptCode(t, "cold fetch", sp.ErrorCode, nil)
				recs := dtDecode(t, tp.Name, sp, off)
				if len(recs) == 0 {
					t.Fatalf("partition %d limit %d: no progress at offset %d", p, limit, off)
				}
				if recs[0].Offset != off {
					t.Fatalf("partition %d limit %d: first offset %d, want %d", p, limit, recs[0].Offset, off)
				}
				got = append(got, dtValues(recs)...)
				off = recs[len(recs)-1].Offset + 1
			}
			if !slices.Equal(got, want[p]) {
				t.Fatalf("partition %d limit %d: values differ", p, limit)
			}
		}
	}
	if store.reads.Load() == readsBefore {
		t.Fatal("no object was read: the test did not exercise cold reads")
	}
	// Timestamps on cold data: the batch at now+200 is offset 20 in
	// partition 0 (batches 0, 2, 4, ... each of two records).
	sp := ptListOffsets(t, c, 10, tp.Name, 0, now+200)
	if sp.ErrorCode != 0 || sp.Offset != 20 || sp.Timestamp != now+200 {
		t.Fatalf("cold offset for timestamp: %s %d@%d, want 20@%d", ptErr(sp.ErrorCode), sp.Offset, sp.Timestamp, now+200)
	}
	if got := len(dtConsume(t, addr, tp.Name, 120)); got != 120 {
		t.Fatalf("consumed %d", got)
	}
}

// dtCountingStore counts object reads.
type dtCountingStore struct {
	objstore.Store
	reads atomic.Int64
}

func (s *dtCountingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.reads.Add(1)
	return s.Store.Get(ctx, key)
}

func (s *dtCountingStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	s.reads.Add(1)
	return s.Store.GetRange(ctx, key, off, n)
}

// ---- produce validation ----

func TestDataProduceErrors(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	now := time.Now().UnixMilli()
	good := ptValues(now, "good")
	bigValue := ptValues(now, strings.Repeat("m", 2000))
	tp := ptTopic(t, n, "perr", 2, nil)
	small := ptTopic(t, n, "perr-small", 1, map[string]string{"max.message.bytes": "1000"})
	exact := ptTopic(t, n, "perr-exact", 1, map[string]string{"max.message.bytes": fmt.Sprint(len(bigValue))})
	old := ptTopic(t, n, "perr-old", 1, map[string]string{"message.timestamp.before.max.ms": "3600000"})
	future := ptTopic(t, n, "perr-future", 1, map[string]string{"message.timestamp.after.max.ms": "3600000"})
	ghost := &engine.Topic{Name: "perr-ghost", ID: engine.TopicID{7, 7}}

	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-3] ^= 0xff
	withCodec := func(codec byte) []byte {
		b := bytes.Clone(good)
		b[22] |= codec
		ptFixCRC(b)
		return b
	}
	withAttr := func(attr byte) []byte {
		b := bytes.Clone(good)
		b[22] |= attr
		ptFixCRC(b)
		return b
	}
	zeroRecords := func() []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint32(b[57:], 0)
		ptFixCRC(b)
		return b
	}()
	badDelta := func() []byte {
		b := ptValues(now, "x", "y")
		binary.BigEndian.PutUint32(b[23:], 5)
		ptFixCRC(b)
		return b
	}()
	// A legacy message set entry: offset, size, crc, magic, attributes,
	// (timestamp), key, value.
	legacy := func(magic byte) []byte {
		msg := []byte{magic, 0}
		if magic == 1 {
			msg = binary.BigEndian.AppendUint64(msg, uint64(now))
		}
		msg = binary.BigEndian.AppendUint32(msg, 0xffffffff)
		msg = binary.BigEndian.AppendUint32(msg, 5)
		msg = append(msg, "hello"...)
		b := binary.BigEndian.AppendUint64(nil, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(4+len(msg)))
		b = binary.BigEndian.AppendUint32(b, 0) // crc (IEEE, not checked: magic is refused first)
		return append(b, msg...)
	}
	oldBatch := ptValues(time.Now().Add(-2*time.Hour).UnixMilli(), "old")
	futureBatch := ptValues(time.Now().Add(2*time.Hour).UnixMilli(), "future")
	recentBatch := ptValues(time.Now().Add(-10*time.Minute).UnixMilli(), "recent")
	// One batch spanning old and recent: max timestamp recent, first one old.
	mixed := ptBatch(time.Now().Add(-2*time.Hour).UnixMilli(), ptRecord{value: []byte("old")}, ptRecord{value: []byte("new"), tsDelta: int64(2 * time.Hour / time.Millisecond)})

	type tc struct {
		name      string
		versions  []int16
		topic     *engine.Topic
		partition int32
		acks      int16
		records   []byte
		want      *kerr.Error
		alsoOK    *kerr.Error // an acceptable alternative code
	}
	all := []int16{3, 5, 7, 8, 9, 11, 12, 13}
	cases := []tc{
		{name: "corrupt crc", topic: tp, records: corrupt, want: kerr.CorruptMessage},
		{name: "truncated batch", topic: tp, records: good[:len(good)-4], want: kerr.CorruptMessage, alsoOK: kerr.InvalidRecord},
		{name: "header only", topic: tp, records: good[:61], want: kerr.CorruptMessage, alsoOK: kerr.InvalidRecord},
		{name: "two batches", topic: tp, records: append(bytes.Clone(good), good...), want: kerr.InvalidRecord},
		{name: "magic 0", topic: tp, records: legacy(0), want: kerr.InvalidRecord},
		{name: "magic 1", topic: tp, records: legacy(1), want: kerr.InvalidRecord},
		{name: "no records", topic: tp, records: []byte{}, want: kerr.InvalidRecord},
		{name: "null records", topic: tp, records: nil, want: kerr.InvalidRecord},
		{name: "zero record count", topic: tp, records: zeroRecords, want: kerr.InvalidRecord},
		{name: "bad last offset delta", topic: tp, records: badDelta, want: kerr.InvalidRecord},
		{name: "control batch", topic: tp, records: withAttr(0x20), want: kerr.InvalidRecord},
		{name: "zstd before v7", versions: []int16{3, 4, 5, 6}, topic: tp, records: withCodec(4), want: kerr.UnsupportedCompressionType},
		{name: "too large", topic: small, records: bigValue, want: kerr.MessageTooLarge},
		{name: "exactly max.message.bytes", topic: exact, records: bigValue},
		{name: "invalid acks 2", topic: tp, acks: 2, records: good, want: kerr.InvalidRequiredAcks},
		{name: "invalid acks -2", topic: tp, acks: -2, records: good, want: kerr.InvalidRequiredAcks},
		{name: "unknown partition", topic: tp, partition: 2, records: good, want: kerr.UnknownTopicOrPartition},
		{name: "negative partition", topic: tp, partition: -1, records: good, want: kerr.UnknownTopicOrPartition},
		{name: "unknown topic", versions: []int16{3, 9, 12}, topic: ghost, records: good, want: kerr.UnknownTopicOrPartition},
		{name: "unknown topic ID", versions: []int16{13}, topic: ghost, records: good, want: kerr.UnknownTopicID},
		{name: "timestamp too old", topic: old, records: oldBatch, want: kerr.InvalidTimestamp},
		{name: "first timestamp too old", topic: old, records: mixed, want: kerr.InvalidTimestamp},
		{name: "timestamp recent enough", topic: old, records: recentBatch},
		{name: "timestamp too far ahead", topic: future, records: futureBatch, want: kerr.InvalidTimestamp},
		{name: "old timestamp, no before limit", topic: future, records: oldBatch},
		{name: "no timestamp", topic: old, records: ptValues(-1, "none")},
	}
	c := ptDial(t, addr)
	for _, tc := range cases {
		vs := tc.versions
		if vs == nil {
			vs = all
		}
		for _, v := range vs {
			what := fmt.Sprintf("%s v%d", tc.name, v)
			acks := tc.acks
			if acks == 0 {
				acks = -1
			}
			name := tc.topic.Name
			if v >= 13 {
				name = ""
			}
			resp := ptDo[*kmsg.ProduceResponse](t, c, ptProduceReq(v, tc.topic, name, tc.partition, acks, tc.records), v)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("%s: malformed response", what)
			}
			sp := resp.Topics[0].Partitions[0]
			if tc.alsoOK != nil && sp.ErrorCode == tc.alsoOK.Code {
				continue
			}
			ptCode(t, what, sp.ErrorCode, tc.want)
			if tc.want != nil && sp.BaseOffset != -1 {
				t.Fatalf("%s: base offset %d with an error", what, sp.BaseOffset)
			}
			if v >= 10 && (sp.CurrentLeader.LeaderID != -1 || sp.CurrentLeader.LeaderEpoch != -1) {
				t.Fatalf("%s: current leader %+v", what, sp.CurrentLeader)
			}
		}
	}
	// Nothing refused was stored.
	for p := int32(0); p < 2; p++ {
		if off := ptMustProduce(t, c, tp, p, good); off != 0 {
			t.Fatalf("perr-%d: refused batches took offsets: next is %d", p, off)
		}
	}
	if off := ptMustProduce(t, c, small, 0, good); off != 0 {
		t.Fatalf("perr-small: refused batches took offsets: next is %d", off)
	}

	// One request, several partitions: each gets its own answer and the
	// good one is stored.
	req := ptProduceReq(9, tp, tp.Name, 0, -1, good)
	req.Topics[0].Partitions = append(req.Topics[0].Partitions,
		kmsg.ProduceRequestTopicPartition{Partition: 1, Records: corrupt},
		kmsg.ProduceRequestTopicPartition{Partition: 5, Records: good})
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "perr-ghost"
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: good}}
	req.Topics = append(req.Topics, rt)
	resp := ptDo[*kmsg.ProduceResponse](t, c, req, 9)
	if len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != 3 || len(resp.Topics[1].Partitions) != 1 {
		t.Fatalf("mixed produce: malformed response %+v", resp.Topics)
	}
	ps := resp.Topics[0].Partitions
	if ps[0].ErrorCode != 0 || ps[0].BaseOffset != 1 || ps[1].ErrorCode != kerr.CorruptMessage.Code ||
		ps[2].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("mixed produce: %s@%d %s %s %s", ptErr(ps[0].ErrorCode), ps[0].BaseOffset, ptErr(ps[1].ErrorCode), ptErr(ps[2].ErrorCode), ptErr(resp.Topics[1].Partitions[0].ErrorCode))
	}

	// acks=0: success sends nothing back; an error closes the connection
	// so the producer notices.
	quiet := ptDial(t, addr)
	quiet.send(ptProduceReq(9, tp, tp.Name, 0, 0, good))
	ptAlive(t, quiet, "after an acks=0 produce") // the next response is the metadata one
	quiet.send(ptProduceReq(9, tp, tp.Name, 0, 0, corrupt))
	quiet.expectClosed("acks=0 produce of a corrupt batch")
	ptAlive(t, c, "other connection after an acks=0 failure")
	deadline := time.Now().Add(ptTimeout)
	for {
		_, hw, _, _ := tp.Partitions[0].Offsets()
		if hw == 3 {
			break
		}
		if hw > 3 || time.Now().After(deadline) {
			t.Fatalf("perr-0 HW %d, want 3 (good, mixed, acks=0)", hw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDataBrokerMessageMaxBytes: message.max.bytes is the default of the
// topic setting max.message.bytes, which overrides it.
func TestDataBrokerMessageMaxBytes(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t, "message.max.bytes=500")
	plain := ptTopic(t, n, "mmb", 1, nil)
	roomy := ptTopic(t, n, "mmb-roomy", 1, map[string]string{"max.message.bytes": "2000"})
	c := ptDial(t, addr)
	b := ptValues(time.Now().UnixMilli(), strings.Repeat("v", 600))
	ptCode(t, "broker default", ptProduce(t, c, 9, plain, 0, b).ErrorCode, kerr.MessageTooLarge)
	ptCode(t, "topic override", ptProduce(t, c, 9, roomy, 0, b).ErrorCode, nil)
	ptCode(t, "small batch", ptProduce(t, c, 9, plain, 0, ptValues(time.Now().UnixMilli(), "v")).ErrorCode, nil)

	// franz-go learns nothing of the limit up front; it gets the error.
	prod := nodetest.Client(t, addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	err := prod.ProduceSync(ctx, &kgo.Record{Topic: plain.Name, Value: []byte(strings.Repeat("w", 600))}).FirstErr()
	if err == nil || !strings.Contains(err.Error(), kerr.MessageTooLarge.Message) {
		t.Fatalf("franz-go produce of a too large batch: %v", err)
	}
}

func TestDataLogAppendTime(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "lat", 1, map[string]string{
		"message.timestamp.type": "LogAppendTime",
		// Limits on CreateTime do not apply to LogAppendTime.
		"message.timestamp.before.max.ms": "1000",
		"message.timestamp.after.max.ms":  "1000",
	})
	c := ptDial(t, addr)
	var appendTimes []int64
	for _, v := range []int16{3, 8, 13} {
		before := time.Now().UnixMilli()
		name := tp.Name
		if v >= 13 {
			name = ""
		}
		resp := ptDo[*kmsg.ProduceResponse](t, c, ptProduceReq(v, tp, name, 0, -1, ptValues(1000, "ancient", "also ancient")), v)
		after := time.Now().UnixMilli()
		sp := resp.Topics[0].Partitions[0]
		ptCode(t, fmt.Sprintf("produce v%d", v), sp.ErrorCode, nil)
		if sp.LogAppendTime < before || sp.LogAppendTime > after {
			t.Fatalf("produce v%d: log append time %d outside [%d, %d]", v, sp.LogAppendTime, before, after)
		}
		appendTimes = append(appendTimes, sp.LogAppendTime, sp.LogAppendTime)
	}
	ptMustProduce(t, c, tp, 0, ptValues(time.Now().Add(48*time.Hour).UnixMilli(), "from the future"))

	sp := dtPart(t, dtFetch(t, c, ptFetchReq(12, tp, 0, 0)))
	for i, a := range dtBatchAttrs(t, sp.RecordBatches) {
		if a&0x08 == 0 {
			t.Fatalf("batch %d: timestamp type is not LogAppendTime", i)
		}
	}
	recs := dtDecode(t, tp.Name, sp, 0)
	for i, at := range appendTimes {
		if recs[i].Timestamp.UnixMilli() != at {
			t.Fatalf("record %d: timestamp %d, want the log append time %d", i, recs[i].Timestamp.UnixMilli(), at)
		}
	}
	// franz-go sees the broker's time too.
	got := dtConsume(t, addr, tp.Name, len(recs))
	for i, at := range appendTimes {
		if got[i].Timestamp.UnixMilli() != at {
			t.Fatalf("consumed record %d: timestamp %d, want %d", i, got[i].Timestamp.UnixMilli(), at)
		}
	}
	if ts := got[len(got)-1].Timestamp; time.Since(ts) > time.Hour || time.Since(ts) < -time.Minute {
		t.Fatalf("future record: timestamp %v is not the broker's time", ts)
	}
}

// ---- kfake comparison ----

// dtScenario produces a fixed set of records and consumes them back,
// returning what a client observes, plus start and end offsets.
func dtScenario(t *testing.T, addr, topic string) ([]ptRecordView, map[int32][2]int64) {
	prod := nodetest.Client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.UnixMilli(1700000000000)
	var recs []*kgo.Record
	for i := 0; i < 40; i++ {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("value-%d", i)), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if i%3 != 0 {
			r.Key = []byte(fmt.Sprintf("key-%d", i%5))
		}
		if i%4 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}}
		}
		recs = append(recs, r)
	}
	// Several produce calls, so the partitions hold several batches.
	for i := 0; i < len(recs); i += 7 {
		dtProduceSync(t, prod, recs[i:min(i+7, len(recs))])
	}
	got := dtSorted(dtConsume(t, addr, topic, len(recs)))
	adm := kadm.NewClient(prod)
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offs := map[int32][2]int64{}
	for p := int32(0); p < 2; p++ {
		s, _ := starts.Lookup(topic, p)
		e, _ := ends.Lookup(topic, p)
		if s.Err != nil || e.Err != nil {
			t.Fatalf("list offsets %s-%d: %v %v", topic, p, s.Err, e.Err)
		}
		offs[p] = [2]int64{s.Offset, e.Offset}
	}
	return got, offs
}

func TestDataSameAsKfake(t *testing.T) {
	t.Parallel()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "compare"))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	wantRecs, wantOffs := dtScenario(t, fake.ListenAddrs()[0], "compare")

	n, addr := ptBroker(t)
	ptTopic(t, n, "compare", 2, nil)
	gotRecs, gotOffs := dtScenario(t, addr, "compare")

	if !reflect.DeepEqual(gotOffs, wantOffs) {
		t.Fatalf("start/end offsets: weir %v, kfake %v", gotOffs, wantOffs)
	}
	if len(gotRecs) != len(wantRecs) {
		t.Fatalf("weir returned %d records, kfake %d", len(gotRecs), len(wantRecs))
	}
	for i := range wantRecs {
		if !reflect.DeepEqual(gotRecs[i], wantRecs[i]) {
			t.Fatalf("record %d:\n weir  %+v\n kfake %+v", i, gotRecs[i], wantRecs[i])
		}
	}
}
