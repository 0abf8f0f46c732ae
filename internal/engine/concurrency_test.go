package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/engine"
)

// TestConcurrentAppends runs many producers over several partitions while
// uploads, evictions, tailing readers, retention, GC and timestamp lookups
// run, then checks every acked batch is readable at its offset and the
// offsets are contiguous. Run it with -race.
func TestConcurrentAppends(t *testing.T) {
	for _, kind := range []string{memWAL, fileWAL} {
		t.Run(kind, func(t *testing.T) {
			v := newEnv(t, kind, func(c *engine.Config) {
				c.UploadInterval = 2 * time.Millisecond
				c.UploadBytes = 2 << 10
				c.MaxObjectBytes = 8 << 10
				c.MaxPendingBytes = 32 << 10
				c.LogCacheBytes = 4 << 10
				c.BlockCacheBytes = 16 << 10
			})
			var parts []*engine.Partition
			for _, name := range []string{"x", "y", "z"} {
				parts = append(parts, v.createTopic(name, 2, nil).Partitions...)
			}

			const producers, perProducer = 12, 120
			var log ackLog
			var wg sync.WaitGroup
			for g := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perProducer {
						p := parts[(g+i)%len(parts)]
						id := fmt.Sprintf("g%d-%d", g, i)
						n := 1 + (g+i)%4
						raw, h := idBatch(t, id, n, int64(1000+i), 20+i%50)
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						a, err := p.Append(ctx, raw, h, false)
						if err == nil {
							err = a.Wait(ctx)
						}
						cancel()
						if err != nil {
							t.Errorf("producer %d batch %d: %v", g, i, err)
							return
						}
						log.add(p, sent{id: id, base: a.BaseOffset, n: n})
					}
				}()
			}

			var stop atomic.Bool
			var bg sync.WaitGroup
			// Tailing readers: follow the high watermark, check contiguity.
			for r := range 3 {
				p := parts[r]
				bg.Add(1)
				go func() {
					defer bg.Done()
					ctx := context.Background()
					off := int64(0)
					for !stop.Load() {
						res, err := p.Read(ctx, off, 512)
						if err != nil {
							t.Errorf("tail reader %s at %d: %v", p, off, err)
							return
						}
						for _, b := range decodeBatches(t, res.Records) {
							if b.h.BaseOffset != off {
								t.Errorf("tail reader %s: batch at %d, want %d", p, b.h.BaseOffset, off)
								return
							}
							off = b.h.LastOffset() + 1
						}
						if len(res.Records) == 0 {
							time.Sleep(time.Millisecond)
						}
					}
				}()
			}
			// Housekeeping that takes the same locks as uploads.
			bg.Add(1)
			go func() {
				defer bg.Done()
				ctx := context.Background()
				for !stop.Load() {
					v.e.ApplyRetention(ctx)
					if err := v.e.CollectGarbage(ctx); err != nil {
						t.Errorf("gc: %v", err)
					}
					if err := v.e.SweepOrphans(ctx); err != nil {
						t.Errorf("sweep: %v", err)
					}
					for _, p := range parts[:2] {
						if _, _, _, err := p.MaxTimestamp(ctx); err != nil {
							t.Errorf("max timestamp: %v", err)
						}
						if _, _, _, err := p.OffsetForTimestamp(ctx, 1020); err != nil {
							t.Errorf("offset for timestamp: %v", err)
						}
					}
					_ = v.e.Stats()
					time.Sleep(3 * time.Millisecond)
				}
			}()

			wg.Wait()
			stop.Store(true)
			bg.Wait()
			if t.Failed() {
				return
			}
			acks := log.snapshot()
			total := 0
			for _, p := range parts {
				total += len(acks[p.String()])
				got := checkLog(t, p, acks[p.String()])
				if len(got) != len(acks[p.String()]) {
					t.Fatalf("%s: read %d batches, acked %d", p, len(got), len(acks[p.String()]))
				}
			}
			if total != producers*perProducer {
				t.Fatalf("acked %d batches, want %d", total, producers*perProducer)
			}
			for _, p := range parts {
				waitUploaded(t, p)
			}
			v.restart()
			for _, tp := range v.e.Topics() {
				for _, p := range tp.Partitions {
					checkLog(t, p, acks[p.String()])
				}
			}
		})
	}
}
