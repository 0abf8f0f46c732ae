//go:build linux

package objstore

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/storage/wal"
)

// BenchmarkWALSyncWhilePut measures what a produce ack waits for on a busy
// broker: one appender appends 64 KiB entries to a file WAL and waits for
// each to be durable (one request in flight, as franz-go without
// idempotence), while an "uploader" puts an 8 MiB object into an FS store
// on the same disk each time 8 MiB more have been appended, and then trims
// the WAL, as the engine's uploader does. It reports the append+sync
// latency percentiles, with objects written plainly, with chunked early
// writeback or with direct I/O (writeFile), and with and without recycling
// of trimmed WAL segments.
//
//	go test -run '^$' -bench WALSyncWhilePut -benchtime 2000x ./internal/storage/objstore/
//
// No timing is asserted: the numbers depend on the disk.
func BenchmarkWALSyncWhilePut(b *testing.B) {
	const (
		entry    = 64 << 10
		objBytes = 8 << 20
		segBytes = 16 << 20
	)
	modes := []struct {
		name string
		mode int
	}{{"plain", writesPlain}, {"writeback", writesWriteback}, {"direct", writesDirect}}
	for _, m := range modes {
		for _, recycle := range []bool{false, true} {
			b.Run(fmt.Sprintf("objects=%s/recycle=%v", m.name, recycle), func(b *testing.B) {
				defer func(old int) { objectWrites = old }(objectWrites)
				objectWrites = m.mode
				dir := b.TempDir()
				store, err := NewFS(filepath.Join(dir, "objects"))
				if err != nil {
					b.Fatal(err)
				}
				opts := wal.FileOptions{SegmentBytes: segBytes, RecycleSegments: -1, Logger: slog.New(slog.DiscardHandler)}
				if recycle {
					opts.RecycleSegments = 2
				}
				w, err := wal.OpenFile(filepath.Join(dir, "wal"), opts)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				data := make([]byte, entry)
				obj := make([]byte, objBytes)
				for i := range obj {
					obj[i] = byte(i * 7)
				}
				appendSync := func() (uint64, error) {
					errc := make(chan error, 1)
					seq, err := w.Append(data, func(err error) { errc <- err })
					if err != nil {
						return 0, err
					}
					return seq, <-errc
				}
				// The uploader: one object per objBytes appended, then a
				// trim that keeps the last 2 segments' worth of entries.
				kick := make(chan uint64, 1)
				var wg sync.WaitGroup
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				wg.Go(func() {
					n := 0
					for {
						select {
						case <-ctx.Done():
							return
						case seq := <-kick:
							n++
							if err := store.Put(ctx, fmt.Sprintf("data/%08d.obj", n), obj); err != nil {
								b.Error(err)
								return
							}
							keep := uint64(2 * segBytes / entry)
							if seq > keep {
								_ = w.Trim(seq - keep)
							}
						}
					}
				})
				perObj := objBytes / entry
				// Warm up: enough to roll a few segments, so recycling
				// (when on) is in its steady state.
				for i := range 4 * segBytes / entry {
					seq, err := appendSync()
					if err != nil {
						b.Fatal(err)
					}
					if (i+1)%perObj == 0 {
						select {
						case kick <- seq:
						default:
						}
					}
				}
				lat := make([]time.Duration, 0, b.N)
				b.SetBytes(entry)
				b.ResetTimer()
				for i := range b.N {
					t0 := time.Now()
					seq, err := appendSync()
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
					if (i+1)%perObj == 0 {
						select {
						case kick <- seq:
						default: // the uploader is behind: skip, as pending data would wait
						}
					}
				}
				b.StopTimer()
				cancel()
				wg.Wait()
				slices.Sort(lat)
				pct := func(q float64) float64 {
					return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds())
				}
				b.ReportMetric(pct(0.5), "p50-µs")
				b.ReportMetric(pct(0.99), "p99-µs")
				b.ReportMetric(pct(0.999), "p99.9-µs")
				b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
			})
		}
	}
}
