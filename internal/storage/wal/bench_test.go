package wal_test

import (
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

// countingFS counts file syncs.
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
