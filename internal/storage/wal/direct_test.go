package wal_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirdb/weir/internal/storage/wal"
)

// Direct writes keep the partial last block across batches: entries of
// sizes around the block size, in batches of one and of several, read back
// whole from a copy of the directory taken while the WAL is open (what a
// kill -9 leaves), after segment rolls, and after a clean Close, which
// trims the padding.
func TestDirectWrites(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		dir := t.TempDir()
		opts := wal.FileOptions{SegmentBytes: 64 << 10, Buffered: buffered}
		w := openFile(t, dir, opts)
		if !buffered && !w.DirectActive() {
			t.Log("no direct I/O on this filesystem: both runs test buffered writes")
		}
		var want [][]byte
		sizes := []int{1, 4079, 4080, 4081, 4096, 100, 9000, 3, 70000, 12, 4065}
		for i := range 60 {
			want = append(want, entryData(i, sizes[i%len(sizes)]))
		}
		for i := 0; i < len(want); {
			// Alternate single appends with runs queued together.
			n := 1 + i%4
			errc := make(chan error, n)
			for j := i; j < min(i+n, len(want)); j++ {
				if _, err := w.Append(want[j], func(err error) { errc <- err }); err != nil {
					t.Fatal(err)
				}
			}
			for j := i; j < min(i+n, len(want)); j++ {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			i += n
		}
		crash := copyDir(t, dir)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{crash, dir} {
			w := openFile(t, d, opts)
			_, got := replayAll(t, w)
			if len(got) != len(want) {
				t.Fatalf("buffered=%v %s: replayed %d entries, want %d", buffered, d, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("buffered=%v %s: entry %d differs", buffered, d, i)
				}
			}
			w.Close()
		}
	}
}

func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
