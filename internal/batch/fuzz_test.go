package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzLimit keeps a fuzz-found bomb from costing 128 MiB per worker; the
// bound's code path is the same at any size.
const fuzzLimit = 1 << 20

func isSentinel(err error) bool { return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalid) }

func FuzzValidate(f *testing.F) {
	seeds := seedBatches(f)
	for _, s := range seeds {
		f.Add(s)
		f.Add(append(bytes.Clone(s), s...))
		f.Add(s[:len(s)-1])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		h, err := Validate(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Validate error %v wraps neither sentinel", err)
			}
		} else {
			if h.Size() != len(b) || h.NumRecords <= 0 || h.IsControl() {
				t.Fatalf("accepted %+v for %d bytes", h, len(b))
			}
			// A patched batch must still validate, so a leader can stamp
			// whatever it accepted.
			p := bytes.Clone(b)
			SetBaseOffset(p, 1<<40)
			SetLeaderEpoch(p, 7)
			SetLogAppendTime(p, 123)
			if _, err := Validate(p); err != nil {
				t.Fatalf("patched batch no longer validates: %v", err)
			}
		}
		if !bytes.Equal(b, orig) {
			t.Fatal("Validate modified its input")
		}

		// Iter must always advance, stay in bounds and tile its input.
		it := NewIter(b)
		pos := 0
		for {
			h, raw, ok := it.Next()
			if !ok {
				break
			}
			if len(raw) != h.Size() || it.Pos() != pos+len(raw) || !bytes.Equal(raw, b[pos:it.Pos()]) {
				t.Fatalf("Iter batch at %d: %d bytes, size %d, pos %d", pos, len(raw), h.Size(), it.Pos())
			}
			pos = it.Pos()
		}
		if it.Err() != nil && !isSentinel(it.Err()) {
			t.Fatalf("Iter error %v wraps neither sentinel", it.Err())
		}
		if it.Err() == nil && pos != len(b) {
			t.Fatalf("Iter stopped at %d of %d without an error", pos, len(b))
		}
	})
}

func FuzzRecords(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
		lat := bytes.Clone(s)
		SetLogAppendTime(lat, 5)
		f.Add(lat)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(raw []byte) {
			h, herr := ParseHeader(raw)
			n := 0
			var sum int
			err := records(raw, fuzzLimit, func(r Record) bool {
				// Touch every byte handed out, so aliasing bugs show up
				// as out-of-range reads rather than going unnoticed.
				for _, x := range [][]byte{r.Key, r.Value} {
					for _, c := range x {
						sum += int(c)
					}
				}
				for _, hd := range r.Headers {
					if hd.Key == nil {
						t.Fatal("nil header key")
					}
					sum += len(hd.Key) + len(hd.Value)
				}
				if h.Attributes&LogAppendTimeBit != 0 && r.Timestamp != h.MaxTimestamp {
					t.Fatalf("LogAppendTime record ts %d, max %d", r.Timestamp, h.MaxTimestamp)
				}
				n++
				return true
			})
			if err != nil {
				if !isSentinel(err) {
					t.Fatalf("Records error %v wraps neither sentinel", err)
				}
				return
			}
			if herr != nil || n != int(h.NumRecords) {
				t.Fatalf("Records succeeded with %d of %d records (header err %v)", n, h.NumRecords, herr)
			}
			// Stopping early must be honoured on any batch that decodes.
			calls := 0
			if err := records(raw, fuzzLimit, func(Record) bool { calls++; return false }); err != nil || calls > 1 {
				t.Fatalf("early stop: %d calls, %v", calls, err)
			}
		}
		check(b)
		// Most mutations change the length; fixing the length field too
		// lets the fuzzer reach the decompressors and record parser.
		if len(b) >= HeaderSize {
			fixed := bytes.Clone(b)
			binary.BigEndian.PutUint32(fixed[offLength:], uint32(len(b)-12))
			check(fixed)
		}
	})
}
