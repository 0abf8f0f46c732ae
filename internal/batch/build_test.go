package batch

import (
	"bytes"
	"testing"
)

func TestBuildRoundTrip(t *testing.T) {
	for _, recs := range [][]KeyValue{
		{{Key: []byte("k"), Value: []byte("v")}},
		{{Key: []byte("a"), Value: nil}, {Key: nil, Value: []byte("b")}, {Key: []byte("c"), Value: []byte("")}},
	} {
		raw := Build(1234, recs...)
		h, err := Validate(raw)
		if err != nil {
			t.Fatalf("Validate(Build(%d records)): %v", len(recs), err)
		}
		if h.NumRecords != int32(len(recs)) || h.LastOffsetDelta != int32(len(recs)-1) || h.ProducerID != -1 || h.MaxTimestamp != 1234 {
			t.Fatalf("header %+v", h)
		}
		i := 0
		if err := Records(raw, func(r Record) bool {
			want := recs[i]
			if r.Offset != int64(i) || r.Timestamp != 1234 ||
				!bytes.Equal(r.Key, want.Key) || (r.Key == nil) != (want.Key == nil) ||
				!bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil) {
				t.Fatalf("record %d: %+v, want %+v", i, r, want)
			}
			i++
			return true
		}); err != nil || i != len(recs) {
			t.Fatalf("decoded %d records, err %v", i, err)
		}
	}
}
