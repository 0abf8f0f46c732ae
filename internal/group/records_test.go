package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
)

// Java's String.hashCode and Kafka's partitionFor, values computed with
// Java's definitions (UTF-16 code units, int32 wrap-around,
// Utils.abs(Integer.MIN_VALUE) == 0).
func TestGroupPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		group string
		hash  int32
		part  int32
	}{
		{"", 0, 0},
		{"hello", 99162322, 22},
		{"polygenelubricants", -2147483648, 0},
		{"my-group", -1906497762, 12},
		{"consumer-group-1", 147483020, 20},
		{"grüße", 98768023, 23},
		{"😀group", -1231696132, 32}, // a surrogate pair
	} {
		if h := javaHashCode(tc.group); h != tc.hash {
			t.Errorf("javaHashCode(%q) = %d, want %d", tc.group, h, tc.hash)
		}
		if p := PartitionFor(tc.group, 50); p != tc.part {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.group, p, tc.part)
		}
	}
}

// The records written decode with Kafka's schemas (through kmsg, an
// encoder independent of ours), in a batch the broker accepts.
func TestGroupRecordsKafkaSchemas(t *testing.T) {
	g := newGroup("g")
	g.protocolType, g.protocol, g.generation, g.leader, g.stateMs = "consumer", "range", 7, "m1", 1234
	inst := "i1"
	g.add(&member{id: "m1", instanceID: &inst, protocolType: "consumer", clientID: "c", clientHost: "/1.2.3.4", sessionTimeoutMs: 10000,
		rebalanceTimeoutMs: 20000, protocols: []Protocol{{"roundrobin", []byte("rr")}, {"range", []byte("sub")}}, assignment: []byte("a1")}, nil)
	recs := []kv{
		offsetRecord("g", TopicPartition{"t", 3}, offset{offset: 42, leaderEpoch: 5, metadata: "md", commitMs: 99}),
		offsetTombstone("g", TopicPartition{"t", 4}),
		groupRecord(g, nil),
		groupTombstone("h"),
	}
	raw := encodeBatch(recs, 1000)
	h, err := batch.Validate(raw)
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if h.NumRecords != 4 || h.MaxTimestamp != 1000 || h.ProducerID != -1 || h.Codec() != 0 {
		t.Fatalf("header %+v", h)
	}
	var got []batch.Record
	if err := batch.Records(raw, func(r batch.Record) bool {
		r.Key, r.Value = append([]byte(nil), r.Key...), append([]byte(nil), r.Value...)
		if r.Value != nil && len(r.Value) == 0 {
			r.Value = nil
		}
		got = append(got, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}

	var ok kmsg.OffsetCommitKey
	if err := ok.ReadFrom(got[0].Key); err != nil || ok.Version != 1 || ok.Group != "g" || ok.Topic != "t" || ok.Partition != 3 {
		t.Fatalf("offset key %+v %v", ok, err)
	}
	var ov kmsg.OffsetCommitValue
	if err := ov.ReadFrom(got[0].Value); err != nil || ov.Version != 3 || ov.Offset != 42 || ov.LeaderEpoch != 5 || ov.Metadata != "md" || ov.CommitTimestamp != 99 {
		t.Fatalf("offset value %+v %v", ov, err)
	}
	if got[1].Value != nil {
		t.Fatalf("offset tombstone has a value: %x", got[1].Value)
	}
	var gk kmsg.GroupMetadataKey
	if err := gk.ReadFrom(got[2].Key); err != nil || gk.Version != 2 || gk.Group != "g" {
		t.Fatalf("group key %+v %v", gk, err)
	}
	var gv kmsg.GroupMetadataValue
	if err := gv.ReadFrom(got[2].Value); err != nil {
		t.Fatal(err)
	}
	if gv.Version != 3 || gv.ProtocolType != "consumer" || gv.Generation != 7 || *gv.Protocol != "range" || *gv.Leader != "m1" ||
		gv.CurrentStateTimestamp != 1234 || len(gv.Members) != 1 {
		t.Fatalf("group value %+v", gv)
	}
	m := gv.Members[0]
	if m.MemberID != "m1" || *m.InstanceID != "i1" || m.ClientID != "c" || m.ClientHost != "/1.2.3.4" ||
		m.SessionTimeoutMillis != 10000 || m.RebalanceTimeoutMillis != 20000 || string(m.Subscription) != "sub" || string(m.Assignment) != "a1" {
		t.Fatalf("member %+v", m)
	}
	if got[3].Value != nil {
		t.Fatal("group tombstone has a value")
	}
}

// Loading accepts the other versions Kafka has written: offset key v0,
// value v1 (with an expire timestamp) and v4 (flexible), group value v0.
func TestGroupDecodeOlderVersions(t *testing.T) {
	k0 := (&kmsg.OffsetCommitKey{Version: 0, Group: "g", Topic: "t", Partition: 1}).AppendTo(nil)
	v1 := (&kmsg.OffsetCommitValue{Version: 1, Offset: 9, Metadata: "x", CommitTimestamp: 5, ExpireTimestamp: 6}).AppendTo(nil)
	l, ok, err := decodeRecord(k0, v1)
	if err != nil || !ok || l.offset == nil || l.offset.value.offset != 9 || l.offset.value.leaderEpoch != -1 || l.offset.value.metadata != "x" {
		t.Fatalf("v0/v1: %+v %v %v", l.offset, ok, err)
	}
	v4 := (&kmsg.OffsetCommitValue{Version: 4, Offset: 10, LeaderEpoch: 2, TopicID: [16]byte{1}}).AppendTo(nil)
	if l, ok, err = decodeRecord(k0, v4); err != nil || !ok || l.offset.value.offset != 10 || l.offset.value.leaderEpoch != 2 {
		t.Fatalf("v4: %+v %v %v", l.offset, ok, err)
	}
	gk := (&kmsg.GroupMetadataKey{Version: 2, Group: "g"}).AppendTo(nil)
	gv0 := (&kmsg.GroupMetadataValue{Version: 0, ProtocolType: "consumer", Generation: 3}).AppendTo(nil)
	if l, ok, err = decodeRecord(gk, gv0); err != nil || !ok || l.meta.value.Generation != 3 || l.meta.value.CurrentStateTimestamp != -1 {
		t.Fatalf("group v0: %+v %v %v", l.meta, ok, err)
	}
	// KIP-848 records (key version 3 and up) are skipped.
	if _, ok, err := decodeRecord([]byte{0, 3, 0, 1, 'g'}, []byte{0, 0}); ok || err != nil {
		t.Fatalf("key v3: %v %v", ok, err)
	}
	if _, _, err := decodeRecord([]byte{0}, nil); err == nil {
		t.Fatal("short key accepted")
	}
	if _, _, err := decodeRecord(k0, []byte{0, 3, 1}); err == nil {
		t.Fatal("truncated value accepted")
	}
}
