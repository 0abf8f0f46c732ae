package engine_test

import (
	"context"
	"testing"

	"github.com/weirdb/weir/internal/engine"
)

func tsBatch(t *testing.T, p *engine.Partition, id string, tss ...int64) sent {
	t.Helper()
	recs := make([]rec, len(tss))
	for i, ts := range tss {
		recs[i] = rec{key: []byte(id), value: []byte(id + "/" + itoa(int64(i))), ts: ts}
	}
	raw, h := buildBatch(t, recs)
	return sent{id: id, base: produce(t, p, raw, h), n: len(tss)}
}

func TestListOffsetsHelpers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache int64
	}{
		{"objects-evicted", 1},
		{"objects-cached", 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, memWAL, func(c *engine.Config) {
				explicitUploads(c)
				c.LogCacheBytes = tc.cache
			})
			v.createTopic("t", 1, nil)
			p := v.part("t", 0)
			ctx := context.Background()

			if off, ts, ep, err := p.MaxTimestamp(ctx); err != nil || off != -1 || ts != -1 || ep != -1 {
				t.Fatalf("MaxTimestamp(empty) = %d, %d, %d, %v", off, ts, ep, err)
			}
			if off, _, _, err := p.OffsetForTimestamp(ctx, 0); err != nil || off != -1 {
				t.Fatalf("OffsetForTimestamp(empty) = %d, %v", off, err)
			}

			// Offsets 0..2, uploaded.
			tsBatch(t, p, "a", 1000, 1010, 1020)
			uploadOnce(t, v)
			// Offsets 3..6, uploaded, timestamps not in order.
			tsBatch(t, p, "b", 2000, 1500, 2600, 2500)
			uploadOnce(t, v)
			// Offsets 7..8, only in the log cache.
			tsBatch(t, p, "c", 3000, 2900)
			// Offset 9, only in the log cache.
			tsBatch(t, p, "d", 2000)

			type answer struct{ off, ts int64 }
			lookups := []struct {
				ts   int64
				want answer
			}{
				{0, answer{0, 1000}},
				{1000, answer{0, 1000}},
				{1005, answer{1, 1010}},
				{1021, answer{3, 2000}},
				{1600, answer{3, 2000}},
				{2001, answer{5, 2600}},
				{2600, answer{5, 2600}},
				{2601, answer{7, 3000}}, // in the log cache
				{2950, answer{7, 3000}},
				{3000, answer{7, 3000}},
				{3001, answer{-1, -1}},
			}
			check := func(stage string) {
				t.Helper()
				for _, l := range lookups {
					off, ts, ep, err := p.OffsetForTimestamp(ctx, l.ts)
					if err != nil {
						t.Fatalf("%s: OffsetForTimestamp(%d): %v", stage, l.ts, err)
					}
					if (answer{off, ts}) != l.want {
						t.Errorf("%s: OffsetForTimestamp(%d) = %d@%d, want %d@%d", stage, l.ts, off, ts, l.want.off, l.want.ts)
					}
					if off >= 0 && ep != 0 {
						t.Errorf("%s: OffsetForTimestamp(%d) epoch %d, want 0", stage, l.ts, ep)
					}
				}
			}
			check("mixed")
			if off, ts, ep, err := p.MaxTimestamp(ctx); err != nil || off != 7 || ts != 3000 || ep != 0 {
				t.Fatalf("MaxTimestamp = %d, %d, %d, %v; want 7, 3000, 0 (in the log cache)", off, ts, ep, err)
			}

			// Everything uploaded: same answers from objects.
			uploadOnce(t, v)
			check("uploaded")

			// The largest timestamp in uploaded data, a later batch in the
			// cache with a smaller one.
			tsBatch(t, p, "e", 9000, 9000) // 10..11
			uploadOnce(t, v)
			tsBatch(t, p, "f", 4000) // 12
			if off, ts, _, err := p.MaxTimestamp(ctx); err != nil || off != 10 || ts != 9000 {
				t.Fatalf("MaxTimestamp = %d, %d, %v; want 10, 9000 (uploaded)", off, ts, err)
			}

			// After a restart, leader epoch of old batches stays 0.
			v.restart()
			p = v.part("t", 0)
			if off, ts, ep, err := p.MaxTimestamp(ctx); err != nil || off != 10 || ts != 9000 || ep != 0 {
				t.Fatalf("MaxTimestamp after restart = %d, %d, %d, %v", off, ts, ep, err)
			}
			// Records below the log start do not count.
			if _, err := v.e.DeleteRecords(ctx, p, 1); err != nil {
				t.Fatal(err)
			}
			if off, ts, _, err := p.OffsetForTimestamp(ctx, 0); err != nil || off != 1 || ts != 1010 {
				t.Fatalf("OffsetForTimestamp(0) after DeleteRecords(1) = %d@%d, %v; want 1@1010", off, ts, err)
			}
		})
	}
}
