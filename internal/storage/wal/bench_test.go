package wal_test

import (
	"fmt"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/weirdb/weir/internal/storage/wal"
)

// BenchmarkFileAppend appends 1 KiB entries from many goroutines. With
// wait=true each goroutine waits for its entry to be durable before the
// next, as a producer waiting for acks does; with wait=false appends only
// stop at back-pressure. entries/sync shows how well group commit works.
func BenchmarkFileAppend(b *testing.B) {
	for _, wait := range []bool{true, false} {
		name := "wait=false"
		if wait {
			name = "wait=true"
		}
		b.Run(name, func(b *testing.B) {
			cfs := &countingFS{FS: wal.OSFS}
			w, err := wal.OpenFile(b.TempDir(), wal.FileOptions{FS: cfs, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 1<<10)
			b.SetBytes(int64(len(data)))
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				acked := make(chan error, 1)
				done := func(err error) { acked <- err }
				for pb.Next() {
					if !wait {
						done = nil
					}
					if _, err := w.Append(data, done); err != nil {
						b.Error(err)
						return
					}
					if wait {
						if err := <-acked; err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
			if err := w.Close(); err != nil { // part of the time: it syncs the rest
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/float64(max(cfs.syncs.Load(), 1)), "entries/sync")
		})
	}
}

// BenchmarkFileAppendSync measures what a produce waits for: append one
// entry and wait until it is durable, from 1 appender (ns/op is then the
// append+sync latency) or from 8 concurrent ones (each waiting for its own
// ack before the next append, so group commit can batch up to 8 entries).
// ns/op is wall time per entry; MB/s is the durable throughput.
//
// Segments are 8 MiB (the default is 64 MiB) and the WAL is warmed up with
// a little over two segments before the timer starts, so that the timed
// part is the steady state of a busy broker, segment rolls included, and not
// the first segments of a new WAL.
func BenchmarkFileAppendSync(b *testing.B) {
	const segBytes = 8 << 20
	for _, size := range []int{1 << 10, 16 << 10, 256 << 10, 1 << 20} {
		for _, appenders := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%dKiB/appenders=%d", size>>10, appenders), func(b *testing.B) {
				cfs := &countingFS{FS: wal.OSFS}
				w, err := wal.OpenFile(b.TempDir(), wal.FileOptions{FS: cfs, SegmentBytes: segBytes, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				warm := make([]byte, 1<<20)
				for range 2*segBytes/len(warm) + 1 {
					appendSync(b, w, warm)
				}
				cfs.syncs.Store(0)
				data := make([]byte, size)
				b.SetBytes(int64(size))
				var left atomic.Int64
				left.Store(int64(b.N))
				errs := make(chan error, appenders)
				b.ResetTimer()
				for range appenders {
					go func() {
						acked := make(chan error, 1)
						done := func(err error) { acked <- err }
						for left.Add(-1) >= 0 {
							if _, err := w.Append(data, done); err != nil {
								errs <- err
								return
							}
							if err := <-acked; err != nil {
								errs <- err
								return
							}
						}
						errs <- nil
					}()
				}
				for range appenders {
					if err := <-errs; err != nil {
						b.Error(err)
					}
				}
				b.StopTimer()
				// Before Close, whose own sync no entry waited for.
				syncs := cfs.syncs.Load()
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/float64(max(syncs, 1)), "entries/sync")
			})
		}
	}
}

// countingFS counts file syncs: Sync (what the WAL used per batch before
// preallocation) and SyncData (what it uses now).
type countingFS struct {
	wal.FS
	syncs atomic.Int64
}

func (c *countingFS) OpenFile(name string, flag int, perm fs.FileMode) (wal.Handle, error) {
	h, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countingHandle{Handle: h, syncs: &c.syncs}, nil
}

type countingHandle struct {
	wal.Handle
	syncs *atomic.Int64
}

func (h *countingHandle) Sync() error {
	h.syncs.Add(1)
	return h.Handle.Sync()
}

func (h *countingHandle) SyncData() error {
	h.syncs.Add(1)
	return h.Handle.SyncData()
}
