package txn

import (
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	m := &txnMeta{id: "tx", pid: 7, epoch: 3, timeoutMs: 60000, state: Ongoing, startMs: 5, updateMs: 9,
		parts: map[TP]struct{}{{"b", 1}: {}, {"a", 2}: {}, {"a", 0}: {}}}
	id, got, ok, err := decodeRecord(encodeKey(m.id), encodeValue(m))
	if err != nil || !ok || id != "tx" {
		t.Fatalf("decode: %q %v %v", id, ok, err)
	}
	if describeLine(got.describe()) != describeLine(m.describe()) || got.updateMs != 9 {
		t.Fatalf("round trip: %s, want %s", describeLine(got.describe()), describeLine(m.describe()))
	}
	if id, got, ok, err := decodeRecord(encodeKey("gone"), nil); err != nil || !ok || id != "gone" || got != nil {
		t.Fatalf("tombstone: %q %v %v %v", id, got, ok, err)
	}
	if PartitionFor("", 50) != 0 || PartitionFor("my-txn", 50) != PartitionFor("my-txn", 50) {
		t.Fatal("PartitionFor")
	}
}

// FuzzDecodeRecord: decoding arbitrary keys and values never panics, and
// what decodes re-encodes to a record that decodes to the same state.
func FuzzDecodeRecord(f *testing.F) {
	m := &txnMeta{id: "tx", pid: 7, epoch: 3, timeoutMs: 60000, state: PrepareCommit, startMs: 5, updateMs: 9,
		parts: map[TP]struct{}{{"a", 0}: {}, {"b", 1}: {}}}
	f.Add(encodeKey(m.id), encodeValue(m))
	m.state, m.parts = Empty, map[TP]struct{}{}
	f.Add(encodeKey(m.id), encodeValue(m))
	f.Add(encodeKey("x"), []byte(nil))
	f.Add([]byte{0, 1}, []byte{0, 1})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		id, m, ok, err := decodeRecord(key, value)
		if err != nil || !ok || m == nil {
			return
		}
		id2, m2, ok2, err := decodeRecord(encodeKey(id), encodeValue(m))
		if err != nil || !ok2 || id2 != id || m2 == nil {
			t.Fatalf("re-decode: %v", err)
		}
		if a, b := describeLine(m.describe()), describeLine(m2.describe()); a != b && m.state != Empty {
			t.Fatalf("re-decode differs:\n%s\n%s", a, b)
		}
	})
}
