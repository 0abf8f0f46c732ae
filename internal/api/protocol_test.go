package api_test

// Protocol-level tests against a full in-process broker: Metadata,
// ListOffsets, DeleteRecords, OffsetForLeaderEpoch, ApiVersions and bad
// input on the raw socket. The helpers here (prefixed pt) are shared with
// data_test.go: a raw Kafka connection that sends a request at exactly the
// version set on it, and a record batch builder.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/api"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/node"
	"github.com/weirdb/weir/internal/node/nodetest"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// ptTimeout bounds every wait in these tests; it is generous on purpose
// (-race, loaded CI machines).
const ptTimeout = 20 * time.Second

// ptBroker starts a broker with the given settings.
//
// It returns once the group and transaction coordinators have loaded their
// topics: until then they answer COORDINATOR_LOAD_IN_PROGRESS, which
// clients retry but raw requests would see (a CI run failed on it).
func ptBroker(t testing.TB, sets ...string) (*node.Node, string) {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Sets: sets})
	if err := n.Txns().WaitLoaded(grCtx(t)); err != nil {
		t.Fatalf("transaction coordinator: %v", err)
	}
	grLoaded(t, n)
	return n, n.Addr()
}

// ptTopic creates a topic directly in the engine, so these tests do not
// depend on the CreateTopics handler.
func ptTopic(t testing.TB, n *node.Node, name string, partitions int32, configs map[string]string) *engine.Topic {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	tp, err := n.Engine().CreateTopic(ctx, name, partitions, configs, false)
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	return tp
}

func ptErr(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("code %d", code)
}

// ptCode fails the test unless got is want.
func ptCode(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	var w int16
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("%s: error %s, want %s", what, ptErr(got), ptErr(w))
	}
}

// ---- raw connection ----

// ptConn is a raw Kafka connection: requests go out at exactly the version
// set on them, with nothing rewritten (franz-go's client would negotiate
// versions and rewrite produce acks).
type ptConn struct {
	t    testing.TB
	nc   net.Conn
	corr int32
	f    *kmsg.RequestFormatter
}

func ptDial(t testing.TB, addr string) *ptConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ptTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &ptConn{t: t, nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("weir-test"))}
}

// writeRaw writes bytes as they are.
func (c *ptConn) writeRaw(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(ptTimeout))
	_, err := c.nc.Write(b)
	return err
}

// send writes req at its version and returns its correlation ID.
func (c *ptConn) send(req kmsg.Request) int32 {
	c.t.Helper()
	c.corr++
	if err := c.writeRaw(c.f.AppendRequest(nil, req, c.corr)); err != nil {
		c.t.Fatalf("write %s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return c.corr
}

// frame reads one response frame: correlation ID and the rest.
func (c *ptConn) frame(timeout time.Duration) (int32, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 256<<20 {
		return 0, nil, fmt.Errorf("response frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.nc, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// recv reads the response to req, sent with correlation ID corr.
func (c *ptConn) recv(req kmsg.Request, corr int32) (kmsg.Response, error) {
	got, body, err := c.frame(ptTimeout)
	if err != nil {
		return nil, fmt.Errorf("read %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	if got != corr {
		return nil, fmt.Errorf("correlation ID %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	// Flexible responses have a tagged-field header, except ApiVersions,
	// whose response header is always v0.
	if resp.IsFlexible() && req.Key() != 18 {
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if err := r.Complete(); err != nil {
			return nil, fmt.Errorf("response header: %w", err)
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// do sends req and returns its response.
func (c *ptConn) do(req kmsg.Request) (kmsg.Response, error) {
	return c.recv(req, c.send(req))
}

// ptDo sends req on c at version v and returns the typed response.
func ptDo[R kmsg.Response](t testing.TB, c *ptConn, req kmsg.Request, v int16) R {
	t.Helper()
	req.SetVersion(v)
	resp, err := c.do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(R)
}

// expectClosed fails unless the broker closes the connection (reading and
// dropping anything it still sends first).
func (c *ptConn) expectClosed(why string) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(ptTimeout))
	buf := make([]byte, 4096)
	for {
		_, err := c.nc.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("%s: connection still open after %v", why, ptTimeout)
		}
		return // EOF or reset: closed
	}
}

// ---- record batches ----

type ptRecord struct {
	key, value []byte // nil is null
	headers    [][2]string
	tsDelta    int64
}

var ptCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// ptBatch encodes an uncompressed magic-2 record batch as a producer would
// (base offset 0, no producer ID).
func ptBatch(baseTs int64, recs ...ptRecord) []byte {
	var body []byte
	maxTs := baseTs
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0) // attributes
		rec = kbin.AppendVarlong(rec, r.tsDelta)
		rec = kbin.AppendVarint(rec, int32(i))
		rec = kbin.AppendVarintBytes(rec, r.key)
		rec = kbin.AppendVarintBytes(rec, r.value)
		rec = kbin.AppendVarint(rec, int32(len(r.headers)))
		for _, h := range r.headers {
			rec = kbin.AppendVarintString(rec, h[0])
			rec = kbin.AppendVarintString(rec, h[1])
		}
		body = kbin.AppendVarint(body, int32(len(rec)))
		body = append(body, rec...)
		maxTs = max(maxTs, baseTs+r.tsDelta)
	}
	b := make([]byte, 61, 61+len(body))
	binary.BigEndian.PutUint32(b[8:], uint32(49+len(body)))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	binary.BigEndian.PutUint32(b[23:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(baseTs))
	binary.BigEndian.PutUint64(b[35:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[43:], ^uint64(0))
	binary.BigEndian.PutUint16(b[51:], 0xffff)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[57:], uint32(len(recs)))
	b = append(b, body...)
	ptFixCRC(b)
	return b
}

// ptFixCRC recomputes the CRC after a test edits a batch.
func ptFixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], ptCastagnoli))
}

// ptValues is a batch of records with the given values, null keys, and
// timestamps baseTs, baseTs+1, ...
func ptValues(baseTs int64, values ...string) []byte {
	recs := make([]ptRecord, len(values))
	for i, v := range values {
		recs[i] = ptRecord{value: []byte(v), tsDelta: int64(i)}
	}
	return ptBatch(baseTs, recs...)
}

// ptProduceReq is a one-partition produce request at version v (by topic
// ID from v13).
func ptProduceReq(v int16, tp *engine.Topic, name string, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(v)
	req.Acks = acks
	req.TimeoutMillis = int32(ptTimeout / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = name
	if tp != nil {
		rt.TopicID = tp.ID
	}
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// ptProduce sends one batch to one partition with acks=-1 and returns its
// partition response.
func ptProduce(t testing.TB, c *ptConn, v int16, tp *engine.Topic, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := ptDo[*kmsg.ProduceResponse](t, c, ptProduceReq(v, tp, tp.Name, partition, -1, records), v)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce v%d: response has %d topics, want 1 with 1 partition", v, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// ptMustProduce produces and fails on any error, returning the base offset.
func ptMustProduce(t testing.TB, c *ptConn, tp *engine.Topic, partition int32, records []byte) int64 {
	t.Helper()
	sp := ptProduce(t, c, 9, tp, partition, records)
	ptCode(t, "produce", sp.ErrorCode, nil)
	return sp.BaseOffset
}

// ---- Metadata ----

func ptMetadataReq(v int16, allowAuto bool, names ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(v)
	req.AllowAutoTopicCreation = allowAuto
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, n := range names {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func TestProtocolMetadataAutoCreate(t *testing.T) {
	t.Parallel()
	for _, brokerAuto := range []bool{true, false} {
		t.Run(fmt.Sprintf("auto.create.topics.enable=%v", brokerAuto), func(t *testing.T) {
			t.Parallel()
			n, addr := ptBroker(t, fmt.Sprintf("auto.create.topics.enable=%v", brokerAuto), "num.partitions=3")
			c := ptDial(t, addr)
			for v := int16(0); v <= 13; v++ {
				for _, allow := range []bool{false, true} {
					if v < 4 && allow {
						continue // the field does not exist before v4
					}
					name := fmt.Sprintf("auto-v%d-%v", v, allow)
					resp := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(v, allow, name), v)
					want := brokerAuto && (v <= 3 || allow)
					what := fmt.Sprintf("metadata v%d allow=%v", v, allow)
					if len(resp.Topics) != 1 {
						t.Fatalf("%s: %d topics in response, want 1", what, len(resp.Topics))
					}
					rt := resp.Topics[0]
					if rt.Topic == nil || *rt.Topic != name {
						t.Fatalf("%s: topic %v, want %s", what, rt.Topic, name)
					}
					created := n.Engine().Topic(name) != nil
					if created != want {
						t.Fatalf("%s: created=%v, want %v", what, created, want)
					}
					if !want {
						ptCode(t, what, rt.ErrorCode, kerr.UnknownTopicOrPartition)
						continue
					}
					// As Kafka: the creating request says LEADER_NOT_AVAILABLE.
					ptCode(t, what, rt.ErrorCode, kerr.LeaderNotAvailable)
					if len(rt.Partitions) != 0 {
						t.Fatalf("%s: %d partitions in the creating response, want none", what, len(rt.Partitions))
					}
					// Asking again finds it with its partitions (and does
					// not fail as "exists").
					again := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(v, allow, name), v)
					ptCode(t, what+" again", again.Topics[0].ErrorCode, nil)
					if len(again.Topics[0].Partitions) != 3 {
						t.Fatalf("%s again: %d partitions, want num.partitions=3", what, len(again.Topics[0].Partitions))
					}
				}
			}
		})
	}
}

func TestProtocolMetadataInvalidNames(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	c := ptDial(t, addr)
	bad := []string{"", ".", "..", "has space", "slash/", "star*", "ümlaut", strings.Repeat("x", 250)}
	for _, v := range []int16{0, 1, 3, 4, 9, 12, 13} {
		for _, name := range bad {
			resp := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(v, true, name), v)
			what := fmt.Sprintf("metadata v%d %q", v, name)
			if len(resp.Topics) != 1 {
				t.Fatalf("%s: %d topics, want 1", what, len(resp.Topics))
			}
			ptCode(t, what, resp.Topics[0].ErrorCode, kerr.InvalidTopicException)
			if len(resp.Topics[0].Partitions) != 0 {
				t.Fatalf("%s: partitions returned for an invalid topic", what)
			}
		}
	}
	var created []string
	for _, tp := range n.Engine().Topics() {
		if !tp.Internal { // __consumer_offsets
			created = append(created, tp.Name)
		}
	}
	if len(created) != 0 {
		t.Fatalf("invalid names created topics: %q", created)
	}
	// The longest valid name works.
	long := strings.Repeat("y", 249)
	resp := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(4, true, long), 4)
	ptCode(t, "249-character name", resp.Topics[0].ErrorCode, kerr.LeaderNotAvailable) // created by this request
	if n.Engine().Topic(long) == nil {
		t.Fatal("249-character name not created")
	}
}

// TestProtocolMetadataCollision: a name that collides with an existing
// one once '.' and '_' are confused is never auto-created.
func TestProtocolMetadataCollision(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	ptTopic(t, n, "coll.ide", 1, nil)
	c := ptDial(t, addr)
	for _, v := range []int16{1, 4, 12} {
		resp := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(v, true, "coll_ide"), v)
		if resp.Topics[0].ErrorCode == 0 || n.Engine().Topic("coll_ide") != nil {
			t.Fatalf("v%d: colliding topic auto-created (%s)", v, ptErr(resp.Topics[0].ErrorCode))
		}
	}
}

func TestProtocolMetadataTopicLists(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t, "auto.create.topics.enable=false")
	a := ptTopic(t, n, "list-a", 2, nil)
	b := ptTopic(t, n, "list-b", 1, nil)
	c := ptDial(t, addr)
	names := func(resp *kmsg.MetadataResponse) []string {
		var out []string
		for _, rt := range resp.Topics {
			if rt.Topic != nil && *rt.Topic != "__consumer_offsets" && *rt.Topic != "__transaction_state" && *rt.Topic != "__share_group_state" { // internal, always there
				out = append(out, *rt.Topic)
			}
		}
		slices.Sort(out)
		return out
	}
	all := []string{"list-a", "list-b"}
	for v := int16(0); v <= 13; v++ {
		// Empty list: every topic at v0, none from v1.
		resp := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(v, false), v)
		got := names(resp)
		if v == 0 && !slices.Equal(got, all) {
			t.Fatalf("v0 empty list: topics %q, want all %q", got, all)
		}
		if v > 0 && len(got) != 0 {
			t.Fatalf("v%d empty list: topics %q, want none", v, got)
		}
		if v >= 1 {
			// Null list: every topic.
			req := ptMetadataReq(v, false)
			req.Topics = nil
			if got := names(ptDo[*kmsg.MetadataResponse](t, c, req, v)); !slices.Equal(got, all) {
				t.Fatalf("v%d null list: topics %q, want %q", v, got, all)
			}
		}
		// Brokers, controller and cluster ID.
		if len(resp.Brokers) != 1 || resp.Brokers[0].Port == 0 {
			t.Fatalf("v%d: brokers %+v", v, resp.Brokers)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID == "") {
			t.Fatalf("v%d: no cluster ID", v)
		}
		if v >= 1 && resp.ControllerID != resp.Brokers[0].NodeID {
			t.Fatalf("v%d: controller %d, broker %d", v, resp.ControllerID, resp.Brokers[0].NodeID)
		}

		// Named topics: IDs (v10+), leader epochs (v7+), partitions.
		resp = ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(v, false, "list-a", "list-b", "list-a"), v)
		if got := names(resp); !slices.Equal(got, all) {
			t.Fatalf("v%d named: topics %q, want %q (duplicates once)", v, got, all)
		}
		for _, rt := range resp.Topics {
			want := a
			if *rt.Topic == "list-b" {
				want = b
			}
			ptCode(t, fmt.Sprintf("v%d %s", v, *rt.Topic), rt.ErrorCode, nil)
			if v >= 10 && rt.TopicID != want.ID {
				t.Fatalf("v%d %s: topic ID %x, want %x", v, *rt.Topic, rt.TopicID, want.ID)
			}
			if len(rt.Partitions) != len(want.Partitions) {
				t.Fatalf("v%d %s: %d partitions, want %d", v, *rt.Topic, len(rt.Partitions), len(want.Partitions))
			}
			for i, p := range rt.Partitions {
				if p.Partition != int32(i) || p.Leader != resp.Brokers[0].NodeID || len(p.Replicas) != 1 || len(p.ISR) != 1 {
					t.Fatalf("v%d %s: partition %+v", v, *rt.Topic, p)
				}
				if v >= 7 && p.LeaderEpoch != want.Partitions[i].Epoch() {
					t.Fatalf("v%d %s-%d: leader epoch %d, want %d", v, *rt.Topic, i, p.LeaderEpoch, want.Partitions[i].Epoch())
				}
			}
		}

		// By topic ID, v10+.
		if v >= 10 {
			req := ptMetadataReq(v, false)
			req.Topics = []kmsg.MetadataRequestTopic{{TopicID: b.ID}, {TopicID: [16]byte{1, 2, 3}}}
			resp := ptDo[*kmsg.MetadataResponse](t, c, req, v)
			if len(resp.Topics) != 2 {
				t.Fatalf("v%d by ID: %d topics, want 2", v, len(resp.Topics))
			}
			if rt := resp.Topics[0]; rt.ErrorCode != 0 || rt.Topic == nil || *rt.Topic != "list-b" || rt.TopicID != b.ID {
				t.Fatalf("v%d by ID: %s %v %x", v, ptErr(rt.ErrorCode), rt.Topic, rt.TopicID)
			}
			ptCode(t, fmt.Sprintf("v%d unknown ID", v), resp.Topics[1].ErrorCode, kerr.UnknownTopicID)
		}
	}
}

// ---- ListOffsets, DeleteRecords, OffsetForLeaderEpoch ----

func ptListOffsets(t testing.TB, c *ptConn, v int16, topic string, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = ts
	rp.MaxNumOffsets = 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := ptDo[*kmsg.ListOffsetsResponse](t, c, req, v)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("list offsets v%d: malformed response %+v", v, resp)
	}
	return resp.Topics[0].Partitions[0]
}

// ptOffset is the offset a ListOffsets answer gives, old style for v0.
func ptOffset(t testing.TB, v int16, sp kmsg.ListOffsetsResponseTopicPartition) int64 {
	t.Helper()
	if v == 0 {
		if len(sp.OldStyleOffsets) != 1 {
			t.Fatalf("v0: old style offsets %v, want one", sp.OldStyleOffsets)
		}
		return sp.OldStyleOffsets[0]
	}
	return sp.Offset
}

func TestProtocolListOffsets(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "lo", 1, nil)
	c := ptDial(t, addr)
	base := time.Now().Add(-time.Hour).UnixMilli()
	// offsets 0-2: ts +0 +10 +20; 3-4: +50 +30; 5: +40.
	ptMustProduce(t, c, tp, 0, ptBatch(base, ptRecord{value: []byte("a")}, ptRecord{value: []byte("b"), tsDelta: 10}, ptRecord{value: []byte("c"), tsDelta: 20}))
	ptMustProduce(t, c, tp, 0, ptBatch(base+50, ptRecord{value: []byte("d")}, ptRecord{value: []byte("e"), tsDelta: -20}))
	ptMustProduce(t, c, tp, 0, ptBatch(base+40, ptRecord{value: []byte("f")}))
	epoch := tp.Partitions[0].Epoch()

	type query struct {
		ts         int64
		minVersion int16
		offset     int64
		timestamp  int64 // checked from v1
	}
	queries := []query{
		{ts: -1, offset: 6, timestamp: -1},
		{ts: -2, offset: 0, timestamp: -1},
		{ts: base, minVersion: 1, offset: 0, timestamp: base},
		{ts: base + 15, minVersion: 1, offset: 2, timestamp: base + 20},
		{ts: base + 45, minVersion: 1, offset: 3, timestamp: base + 50},
		{ts: base + 51, minVersion: 1, offset: -1, timestamp: -1},
		{ts: -3, minVersion: 7, offset: 3, timestamp: base + 50},
		{ts: -4, minVersion: 8, offset: 0, timestamp: -1},
	}
	for v := int16(0); v <= 10; v++ {
		for _, q := range queries {
			if v < q.minVersion {
				continue
			}
			what := fmt.Sprintf("list offsets v%d ts=%d", v, q.ts)
			sp := ptListOffsets(t, c, v, "lo", 0, q.ts)
			ptCode(t, what, sp.ErrorCode, nil)
			if got := ptOffset(t, v, sp); got != q.offset {
				t.Fatalf("%s: offset %d, want %d", what, got, q.offset)
			}
			if v >= 1 && sp.Timestamp != q.timestamp {
				t.Fatalf("%s: timestamp %d, want %d", what, sp.Timestamp, q.timestamp)
			}
			if v >= 4 && q.offset >= 0 && sp.LeaderEpoch != epoch {
				t.Fatalf("%s: leader epoch %d, want %d", what, sp.LeaderEpoch, epoch)
			}
		}
		if v >= 9 {
			// -5, latest tiered: the last uploaded offset, or -1.
			sp := ptListOffsets(t, c, v, "lo", 0, -5)
			ptCode(t, fmt.Sprintf("v%d ts=-5", v), sp.ErrorCode, nil)
			if sp.Offset < -1 || sp.Offset > 5 {
				t.Fatalf("v%d ts=-5: offset %d", v, sp.Offset)
			}
		}
		// Errors: unknown topic and partition; -3 before v7 is not a
		// special value, so it is an invalid negative timestamp.
		ptCode(t, fmt.Sprintf("v%d unknown topic", v), ptListOffsets(t, c, v, "nope", 0, -1).ErrorCode, kerr.UnknownTopicOrPartition)
		ptCode(t, fmt.Sprintf("v%d unknown partition", v), ptListOffsets(t, c, v, "lo", 7, -1).ErrorCode, kerr.UnknownTopicOrPartition)
	}

	// Epoch checks (v4+).
	for _, tc := range []struct {
		epoch int32
		want  *kerr.Error
	}{{-1, nil}, {epoch, nil}, {epoch + 1, kerr.UnknownLeaderEpoch}} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "lo", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: tc.epoch, Timestamp: -1}}}}
		resp := ptDo[*kmsg.ListOffsetsResponse](t, c, req, 4)
		ptCode(t, fmt.Sprintf("current leader epoch %d", tc.epoch), resp.Topics[0].Partitions[0].ErrorCode, tc.want)
	}

	// A partition named twice is refused at every mention, even across
	// repeated topics; the others are answered.
	dup := kmsg.NewPtrListOffsetsRequest()
	part := func(p int32, ts int64) kmsg.ListOffsetsRequestTopicPartition {
		return kmsg.ListOffsetsRequestTopicPartition{Partition: p, CurrentLeaderEpoch: -1, Timestamp: ts}
	}
	dup.Topics = []kmsg.ListOffsetsRequestTopic{
		{Topic: "lo", Partitions: []kmsg.ListOffsetsRequestTopicPartition{part(0, -1), part(0, -2)}},
		{Topic: "nope", Partitions: []kmsg.ListOffsetsRequestTopicPartition{part(0, -1)}},
		{Topic: "nope", Partitions: []kmsg.ListOffsetsRequestTopicPartition{part(0, -1)}},
	}
	for _, v := range []int16{1, 5, 10} {
		resp := ptDo[*kmsg.ListOffsetsResponse](t, c, dup, v)
		if len(resp.Topics) != 3 {
			t.Fatalf("duplicates v%d: %d topics", v, len(resp.Topics))
		}
		for i, rt := range resp.Topics {
			for j, sp := range rt.Partitions {
				ptCode(t, fmt.Sprintf("duplicates v%d topic %d partition %d", v, i, j), sp.ErrorCode, kerr.InvalidRequest)
				if sp.Offset != -1 {
					t.Fatalf("duplicates v%d: offset %d with an error", v, sp.Offset)
				}
			}
		}
	}

	// DeleteRecords moves the earliest offset; timestamps below it are
	// not found any more.
	for v := int16(0); v <= 2; v++ {
		target := int64(v + 2) // 2, 3, 4
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 10000
		req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "lo", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: target}, {Partition: 5, Offset: 0}}}}
		resp := ptDo[*kmsg.DeleteRecordsResponse](t, c, req, v)
		ps := resp.Topics[0].Partitions
		ptCode(t, fmt.Sprintf("delete records v%d", v), ps[0].ErrorCode, nil)
		if ps[0].LowWatermark != target {
			t.Fatalf("delete records v%d: low watermark %d, want %d", v, ps[0].LowWatermark, target)
		}
		ptCode(t, fmt.Sprintf("delete records v%d unknown partition", v), ps[1].ErrorCode, kerr.UnknownTopicOrPartition)
		for lv := int16(0); lv <= 10; lv++ {
			if got := ptOffset(t, lv, ptListOffsets(t, c, lv, "lo", 0, -2)); got != target {
				t.Fatalf("after delete to %d: list offsets v%d earliest = %d", target, lv, got)
			}
		}
	}
	// offsets 0-3 are gone: the first record at or after base is 4 (+30).
	sp := ptListOffsets(t, c, 10, "lo", 0, base)
	if sp.Offset != 4 || sp.Timestamp != base+30 {
		t.Fatalf("after delete: offset for ts %d = %d@%d, want 4@%d", base, sp.Offset, sp.Timestamp, base+30)
	}
	// Deleting above the high watermark is out of range; -1 means the HW.
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "lo", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: 7}}}}
	ptCode(t, "delete above HW", ptDo[*kmsg.DeleteRecordsResponse](t, c, req, 2).Topics[0].Partitions[0].ErrorCode, kerr.OffsetOutOfRange)
	req.Topics[0].Partitions[0].Offset = -1
	dr := ptDo[*kmsg.DeleteRecordsResponse](t, c, req, 2).Topics[0].Partitions[0]
	if dr.ErrorCode != 0 || dr.LowWatermark != 6 {
		t.Fatalf("delete to -1: %s low watermark %d, want 6", ptErr(dr.ErrorCode), dr.LowWatermark)
	}
	if got := ptListOffsets(t, c, 10, "lo", 0, -2).Offset; got != 6 {
		t.Fatalf("earliest after delete to HW = %d, want 6", got)
	}
	if got := ptListOffsets(t, c, 10, "lo", 0, base).Offset; got != -1 {
		t.Fatalf("offset for ts after everything is deleted = %d, want -1", got)
	}
}

func TestProtocolOffsetForLeaderEpoch(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "ofle", 1, nil)
	c := ptDial(t, addr)
	epoch := tp.Partitions[0].Epoch()
	ptMustProduce(t, c, tp, 0, ptValues(time.Now().UnixMilli(), "a", "b", "c"))
	for v := int16(0); v <= 4; v++ {
		for _, tc := range []struct {
			current, requested int32
			code               *kerr.Error
			epoch              int32
			end                int64
		}{
			{current: -1, requested: epoch, epoch: epoch, end: 3},
			{current: epoch, requested: epoch, epoch: epoch, end: 3},
			{current: -1, requested: epoch + 5, epoch: -1, end: -1},
			{current: epoch + 1, requested: epoch, code: kerr.UnknownLeaderEpoch, epoch: -1, end: -1},
		} {
			if v < 2 && tc.current >= 0 {
				continue // no CurrentLeaderEpoch before v2
			}
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.ReplicaID = -1
			req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "ofle", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{
				{Partition: 0, CurrentLeaderEpoch: tc.current, LeaderEpoch: tc.requested},
				{Partition: 3, CurrentLeaderEpoch: -1, LeaderEpoch: 0},
			}}}
			resp := ptDo[*kmsg.OffsetForLeaderEpochResponse](t, c, req, v)
			what := fmt.Sprintf("v%d current=%d requested=%d", v, tc.current, tc.requested)
			sp := resp.Topics[0].Partitions[0]
			ptCode(t, what, sp.ErrorCode, tc.code)
			if sp.EndOffset != tc.end || (v >= 1 && sp.LeaderEpoch != tc.epoch) {
				t.Fatalf("%s: epoch %d end %d, want %d %d", what, sp.LeaderEpoch, sp.EndOffset, tc.epoch, tc.end)
			}
			ptCode(t, what+" unknown partition", resp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
		}
	}
}

// TestProtocolLeaderEpochsAcrossRestart restarts the broker on the same
// storage: the epoch goes up, and Metadata, Fetch, ListOffsets and
// OffsetForLeaderEpoch all tell the truth about which epoch wrote what.
func TestProtocolLeaderEpochsAcrossRestart(t *testing.T) {
	t.Parallel()
	w, store, kv := wal.NewMemory(), objstore.NewMemory(), meta.NewMemory()
	n1 := nodetest.Start(t, nodetest.Options{WAL: w, Store: store, Meta: kv})
	tp := ptTopic(t, n1, "epochs", 1, nil)
	e0 := tp.Partitions[0].Epoch()
	base := time.Now().Add(-time.Minute).UnixMilli()
	c := ptDial(t, n1.Addr())
	ptMustProduce(t, c, tp, 0, ptValues(base, "a", "b", "c"))
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	if err := n1.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	n2 := nodetest.Start(t, nodetest.Options{WAL: w.Reopen(), Store: store, Meta: kv})
	tp = n2.Engine().Topic("epochs")
	if tp == nil {
		t.Fatal("topic lost across restart")
	}
	e1 := tp.Partitions[0].Epoch()
	if e1 <= e0 {
		t.Fatalf("epoch %d after restart, was %d", e1, e0)
	}
	c = ptDial(t, n2.Addr())
	ptMustProduce(t, c, tp, 0, ptValues(base+100, "d", "e"))

	md := ptDo[*kmsg.MetadataResponse](t, c, ptMetadataReq(12, false, "epochs"), 12)
	if got := md.Topics[0].Partitions[0].LeaderEpoch; got != e1 {
		t.Fatalf("metadata leader epoch %d, want %d", got, e1)
	}

	// Each batch carries the epoch that wrote it (the first comes from
	// object storage, the second from the log cache; one fetch may stop
	// at that seam).
	var epochs []int32
	var values []string
	for off := int64(0); off < 5; {
		sp := dtPart(t, dtFetch(t, c, ptFetchReq(12, tp, 0, off)))
		for b := sp.RecordBatches; len(b) >= 61; b = b[12+int(binary.BigEndian.Uint32(b[8:])):] {
			epochs = append(epochs, int32(binary.BigEndian.Uint32(b[12:])))
		}
		recs := dtDecode(t, tp.Name, sp, off)
		if len(recs) == 0 {
			t.Fatalf("no progress at offset %d", off)
		}
		values = append(values, dtValues(recs)...)
		off = recs[len(recs)-1].Offset + 1
	}
	if !slices.Equal(epochs, []int32{e0, e1}) {
		t.Fatalf("batch leader epochs %v, want [%d %d]", epochs, e0, e1)
	}
	if !slices.Equal(values, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("values after restart %q", values)
	}

	// A client still on the old epoch is fenced.
	req := ptFetchReq(12, tp, 0, 0)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = e0
	ptCode(t, "fetch at the old epoch", dtPart(t, dtFetch(t, c, req)).ErrorCode, kerr.FencedLeaderEpoch)
	if sp := ptProduce(t, c, 9, tp, 0, ptValues(base+200, "f")); sp.ErrorCode != 0 || sp.BaseOffset != 5 {
		t.Fatalf("produce after restart: %s at %d", ptErr(sp.ErrorCode), sp.BaseOffset)
	}

	for _, tc := range []struct {
		requested int32
		epoch     int32
		end       int64
	}{{e0, e0, 3}, {e1, e1, 6}} {
		ofle := kmsg.NewPtrOffsetForLeaderEpochRequest()
		ofle.ReplicaID = -1
		ofle.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "epochs", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: e1, LeaderEpoch: tc.requested}}}}
		sp := ptDo[*kmsg.OffsetForLeaderEpochResponse](t, c, ofle, 4).Topics[0].Partitions[0]
		if sp.ErrorCode != 0 || sp.LeaderEpoch != tc.epoch || sp.EndOffset != tc.end {
			t.Fatalf("offset for epoch %d: %s epoch %d end %d, want %d %d", tc.requested, ptErr(sp.ErrorCode), sp.LeaderEpoch, sp.EndOffset, tc.epoch, tc.end)
		}
	}
	for _, tc := range []struct {
		ts     int64
		offset int64
		epoch  int32
	}{{-2, 0, e0}, {-1, 6, e1}, {base + 1, 1, e0}, {base + 100, 3, e1}} {
		sp := ptListOffsets(t, c, 10, "epochs", 0, tc.ts)
		if sp.ErrorCode != 0 || sp.Offset != tc.offset || sp.LeaderEpoch != tc.epoch {
			t.Fatalf("list offsets ts=%d: %s offset %d epoch %d, want %d %d", tc.ts, ptErr(sp.ErrorCode), sp.Offset, sp.LeaderEpoch, tc.offset, tc.epoch)
		}
	}
	if got := len(dtConsume(t, n2.Addr(), "epochs", 6)); got != 6 {
		t.Fatalf("consumed %d", got)
	}
}

// ---- ApiVersions ----

func TestProtocolApiVersions(t *testing.T) {
	t.Parallel()
	_, addr := ptBroker(t)
	advertised := api.Versions()
	for v := int16(0); v <= 4; v++ {
		c := ptDial(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "weir-test", "1.0.0"
		resp := ptDo[*kmsg.ApiVersionsResponse](t, c, req, v)
		ptCode(t, fmt.Sprintf("api versions v%d", v), resp.ErrorCode, nil)
		if !slices.Equal(ptKeys(resp.ApiKeys), ptKeys(advertised)) {
			t.Fatalf("v%d: keys %+v, want %+v", v, resp.ApiKeys, advertised)
		}
	}

	// Unsupported versions get a v0 response with UNSUPPORTED_VERSION and
	// the list, so the client can pick a version it shares.
	for _, v := range []int16{5, 9, 127, 0x7fff} {
		c := ptDial(t, addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "weir-test", "1.0.0"
		var buf []byte
		if v <= req.MaxVersion() {
			buf = kmsg.NewRequestFormatter(kmsg.FormatterClientID("x")).AppendRequest(nil, req, 42)
		} else {
			// kmsg cannot encode it: a flexible header and an
			// arbitrary body, which the broker must not try to read.
			buf = binary.BigEndian.AppendUint32(nil, 0)
			buf = binary.BigEndian.AppendUint16(buf, 18)
			buf = binary.BigEndian.AppendUint16(buf, uint16(v))
			buf = binary.BigEndian.AppendUint32(buf, 42)
			buf = kbin.AppendNullableString(buf, kmsg.StringPtr("x"))
			buf = append(buf, 0)                    // header tags
			buf = append(buf, 1, 2, 3, 4, 5, 6, 77) // body from the future
			binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		}
		if err := c.writeRaw(buf); err != nil {
			t.Fatal(err)
		}
		corr, body, err := c.frame(ptTimeout)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if corr != 42 {
			t.Fatalf("v%d: correlation ID %d", v, corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v%d: response is not a v0 ApiVersions response: %v", v, err)
		}
		ptCode(t, fmt.Sprintf("api versions v%d", v), resp.ErrorCode, kerr.UnsupportedVersion)
		if !slices.Equal(ptKeys(resp.ApiKeys), ptKeys(advertised)) {
			t.Fatalf("v%d: keys %+v, want %+v", v, resp.ApiKeys, advertised)
		}
		// The connection stays usable.
		ok := ptDo[*kmsg.ApiVersionsResponse](t, c, kmsg.NewPtrApiVersionsRequest(), 0)
		ptCode(t, "api versions v0 after unsupported", ok.ErrorCode, nil)
	}

	// v3+ validates the client software name and version.
	c := ptDial(t, addr)
	for _, tc := range []struct {
		name, version string
		ok            bool
	}{
		{"weir-test", "1.0.0", true},
		{"a", "1", true},
		{"franz-go", "v1.22.3", true},
		{"", "1.0", false},
		{"weir", "", false},
		{"-weir", "1.0", false},
		{"weir-", "1.0", false},
		{"weir test", "1.0", false},
		{"weir", "1.0_beta", false},
	} {
		for _, v := range []int16{3, 4} {
			req := kmsg.NewPtrApiVersionsRequest()
			req.ClientSoftwareName, req.ClientSoftwareVersion = tc.name, tc.version
			resp := ptDo[*kmsg.ApiVersionsResponse](t, c, req, v)
			var want *kerr.Error
			if !tc.ok {
				want = kerr.InvalidRequest
			}
			ptCode(t, fmt.Sprintf("v%d %q %q", v, tc.name, tc.version), resp.ErrorCode, want)
		}
		// v0-2 have no such fields: anything goes.
		req := kmsg.NewPtrApiVersionsRequest()
		ptCode(t, "v2", ptDo[*kmsg.ApiVersionsResponse](t, c, req, 2).ErrorCode, nil)
	}
}

func ptKeys(keys []kmsg.ApiVersionsResponseApiKey) [][3]int16 {
	out := make([][3]int16, len(keys))
	for i, k := range keys {
		out[i] = [3]int16{k.ApiKey, k.MinVersion, k.MaxVersion}
	}
	return out
}

// TestProtocolEveryAdvertisedVersion sends a default request of every
// advertised key and version and requires a decodable response, so nothing
// is advertised that cannot be served.
func TestProtocolEveryAdvertisedVersion(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t, "auto.create.topics.enable=false")
	ptTopic(t, n, "every", 1, nil)
	c := ptDial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "weir-test", "1.0.0"
	keys := ptDo[*kmsg.ApiVersionsResponse](t, c, req, 3).ApiKeys
	if len(keys) == 0 {
		t.Fatal("no API advertised")
	}
	for _, k := range keys {
		if k.MinVersion < 0 || k.MinVersion > k.MaxVersion {
			t.Fatalf("%s: range %d-%d", kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion)
		}
		minV := k.MinVersion
		if k.ApiKey == 0 {
			// Produce v0-2 are advertised only so that librdkafka
			// compresses (KAFKA-18659); Kafka 4 refuses them too.
			if minV != 0 {
				t.Fatalf("Produce advertised from v%d, want v0 as Kafka 4", minV)
			}
			minV = 3
		}
		for v := minV; v <= k.MaxVersion; v++ {
			req := kmsg.RequestForKey(k.ApiKey)
			if req == nil {
				t.Fatalf("advertised key %d is unknown to kmsg", k.ApiKey)
			}
			if v > req.MaxVersion() {
				t.Fatalf("%s v%d advertised above kmsg's max %d", kmsg.NameForKey(k.ApiKey), v, req.MaxVersion())
			}
			switch r := req.(type) {
			case *kmsg.ProduceRequest:
				r.Acks = -1 // acks=0 gets no response
			case *kmsg.FetchRequest:
				r.MaxWaitMillis = 0
			case *kmsg.ApiVersionsRequest:
				r.ClientSoftwareName, r.ClientSoftwareVersion = "weir-test", "1.0.0"
			}
			req.SetVersion(v)
			resp, err := c.do(req)
			if err != nil {
				t.Fatalf("%s v%d (default request): %v", kmsg.NameForKey(k.ApiKey), v, err)
			}
			if resp.Key() != k.ApiKey || resp.GetVersion() != v {
				t.Fatalf("%s v%d: got %s v%d", kmsg.NameForKey(k.ApiKey), v, kmsg.NameForKey(resp.Key()), resp.GetVersion())
			}
		}
	}
	// The same through franz-go, which picks the highest version both
	// sides know (requests it routes to a group or transaction
	// coordinator are left to the group tests: an empty group ID makes
	// it look for a coordinator).
	cl := nodetest.Client(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	for _, k := range keys {
		req := kmsg.RequestForKey(k.ApiKey)
		if _, ok := req.(kmsg.GroupCoordinatorRequest); ok {
			continue
		}
		if _, ok := req.(kmsg.TxnCoordinatorRequest); ok {
			continue
		}
		if f, ok := req.(*kmsg.FetchRequest); ok {
			f.MaxWaitMillis = 0
		}
		if _, err := cl.Request(ctx, req); err != nil {
			t.Fatalf("franz-go %s: %v", kmsg.NameForKey(k.ApiKey), err)
		}
	}
}

// ---- bad input on the socket ----

// ptAlive checks that a connection still serves requests.
func ptAlive(t testing.TB, c *ptConn, what string) {
	t.Helper()
	resp, err := c.do(ptMetadataReq(1, false))
	if err != nil {
		t.Fatalf("%s: connection no longer served: %v", what, err)
	}
	if len(resp.(*kmsg.MetadataResponse).Brokers) != 1 {
		t.Fatalf("%s: bad metadata response", what)
	}
}

func TestProtocolBadInput(t *testing.T) {
	t.Parallel()
	const limit = 1024
	_, addr := ptBroker(t, fmt.Sprintf("socket.request.max.bytes=%d", limit))
	bystander := ptDial(t, addr)
	ptAlive(t, bystander, "before")

	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	header := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 7)
		return kbin.AppendNullableString(b, kmsg.StringPtr("bad"))
	}
	bigMetadata := func() []byte {
		// A valid Metadata v1 request just over the limit.
		req := ptMetadataReq(1, false, strings.Repeat("t", 200), strings.Repeat("u", 200), strings.Repeat("v", 200), strings.Repeat("w", 200), strings.Repeat("x", 200))
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID("x")).AppendRequest(nil, req, 1)
	}()
	if len(bigMetadata)-4 <= limit {
		t.Fatalf("test request of %d bytes is not over the limit", len(bigMetadata))
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"oversize frame", bigMetadata},
		{"oversize size prefix only", binary.BigEndian.AppendUint32(nil, limit+1)},
		{"negative size", binary.BigEndian.AppendUint32(nil, 0xfffffff0)},
		{"http", []byte("GET / HTTP/1.1\r\nHost: weir\r\n\r\n")},
		{"tls client hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}},
		{"empty frame", frame(nil)},
		{"short header", frame([]byte{0, 3, 0})},
		{"unknown api key", frame(append(header(9999, 0), 0, 0, 0, 0))},
		{"negative api key", frame(append(header(-1, 0), 0, 0, 0, 0))},
		{"unimplemented api key", frame(append(header(4, 0), make([]byte, 20)...))}, // LeaderAndIsr
		{"unsupported version", frame(append(header(3, 99), 0, 0, 0, 0))},
		{"below min version", frame(append(header(0, 0), make([]byte, 20)...))}, // Produce v0
		{"truncated body", frame(append(header(3, 1), 0, 0, 0, 5, 0, 3, 'a'))},
		{"huge array length", frame(append(header(3, 1), 0x7f, 0xff, 0xff, 0xff))},
		{"garbage body", frame(append(header(1, 11), bytes.Repeat([]byte{0xff}, 64)...))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ptDial(t, addr)
			if err := c.writeRaw(tc.data); err != nil {
				t.Fatal(err)
			}
			c.expectClosed(tc.name)
			ptAlive(t, bystander, "bystander after "+tc.name)
			ptAlive(t, ptDial(t, addr), "new connection after "+tc.name)
		})
	}

	// Just under the limit is served.
	c := ptDial(t, addr)
	req := ptMetadataReq(1, false, strings.Repeat("t", 200), strings.Repeat("u", 200), strings.Repeat("v", 200))
	resp := ptDo[*kmsg.MetadataResponse](t, c, req, 1)
	if len(resp.Topics) != 3 {
		t.Fatalf("request under the limit: %d topics", len(resp.Topics))
	}

	// A real client still works.
	cl := nodetest.Client(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), ptTimeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("franz-go after bad input: %v", err)
	}
}

// TestProtocolIdleTimeout: connections.max.idle.ms closes a silent
// connection, but never one waiting on a long-polling fetch.
func TestProtocolIdleTimeout(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t, "connections.max.idle.ms=300")
	tp := ptTopic(t, n, "idle", 1, nil)
	busy := ptDial(t, addr)
	req := ptFetchReq(12, tp, 0, 0)
	req.MaxWaitMillis = 1500
	start := time.Now()
	sp := dtPart(t, dtFetch(t, busy, req))
	if elapsed := time.Since(start); elapsed < 1400*time.Millisecond {
		t.Fatalf("long poll answered after %v", elapsed)
	}
	ptCode(t, "long poll", sp.ErrorCode, nil)
	ptAlive(t, busy, "right after a long poll")

	quiet := ptDial(t, addr)
	start = time.Now() // before the last answer, which restarts the idle clock
	ptAlive(t, quiet, "fresh connection")
	quiet.expectClosed("idle connection")
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond {
		t.Fatalf("idle connection closed after %v", elapsed)
	}
}

// TestProtocolPipelined sends many requests before reading any response:
// responses come back complete and in order, including a long-polling
// fetch that holds later answers back.
func TestProtocolPipelined(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	tp := ptTopic(t, n, "pipe", 1, nil)
	c := ptDial(t, addr)
	var reqs []kmsg.Request
	var corrs []int32
	for i := 0; i < 50; i++ {
		var req kmsg.Request
		switch i % 3 {
		case 0:
			req = ptProduceReq(9, tp, "pipe", 0, -1, ptValues(time.Now().UnixMilli(), fmt.Sprint(i)))
		case 1:
			req = ptMetadataReq(12, false, "pipe")
		default:
			f := ptFetchReq(12, tp, 0, 0)
			f.MaxWaitMillis = 50
			req = f
		}
		reqs = append(reqs, req)
		corrs = append(corrs, c.send(req))
	}
	var produced int64
	for i, req := range reqs {
		resp, err := c.recv(req, corrs[i])
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if p, ok := resp.(*kmsg.ProduceResponse); ok {
			sp := p.Topics[0].Partitions[0]
			if sp.ErrorCode != 0 || sp.BaseOffset != produced {
				t.Fatalf("produce %d: %s offset %d, want %d", i, ptErr(sp.ErrorCode), sp.BaseOffset, produced)
			}
			produced++
		}
	}
}

// ---- kfake comparison ----

// ptRecordView is what a consumer observes of a record.
type ptRecordView struct {
	Partition  int32
	Offset     int64
	Key, Value string
	KeyNil     bool
	Headers    string
	Timestamp  int64
}

func ptView(r *kgo.Record) ptRecordView {
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, h.Key+"="+string(h.Value))
	}
	return ptRecordView{
		Partition: r.Partition, Offset: r.Offset,
		Key: string(r.Key), KeyNil: r.Key == nil, Value: string(r.Value),
		Headers: strings.Join(hs, ","), Timestamp: r.Timestamp.UnixMilli(),
	}
}
