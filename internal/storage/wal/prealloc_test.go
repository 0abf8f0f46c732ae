package wal_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirdb/weir/internal/storage/wal"
)

// crashImage copies the segments in dir, as they are while a File still
// has them open, into a new directory: what a crash (after the last
// acknowledged sync) leaves, with the preallocated zeros still there.
func crashImage(t *testing.T, dir string) string {
	t.Helper()
	img := t.TempDir()
	for _, name := range segmentNames(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// checkNoWarning fails if records hold a warning.
func checkNoWarning(t *testing.T, records []map[string]any) {
	t.Helper()
	for _, rec := range records {
		if rec["level"] == "WARN" {
			t.Fatalf("unexpected warning %v", rec)
		}
	}
}

func TestSegmentPreallocatedAndTrimmedOnClose(t *testing.T) {
	dir := t.TempDir()
	opts := wal.FileOptions{SegmentBytes: 4096}
	w := openFile(t, dir, opts)
	if got := fileSize(t, segPath(dir, 1)); got != 4096 {
		t.Fatalf("new segment is %d bytes, want preallocated 4096", got)
	}
	for i := range 3 {
		appendSync(t, w, bytes.Repeat([]byte{byte(i)}, 30))
	}
	if got := fileSize(t, segPath(dir, 1)); got != 4096 {
		t.Fatalf("segment is %d bytes after appends inside it, want 4096", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := fileSize(t, segPath(dir, 1)), 3*frameSize(30); got != want {
		t.Fatalf("segment is %d bytes after Close, want its entries' %d", got, want)
	}
	// Reopening preallocates again, and appends go after the entries, not
	// after the zeros.
	w = openFile(t, dir, opts)
	if got := fileSize(t, segPath(dir, 1)); got != 4096 {
		t.Fatalf("reopened segment is %d bytes, want 4096", got)
	}
	replayAll(t, w)
	appendSync(t, w, bytes.Repeat([]byte{3}, 30))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkPrefix(t, dir, opts, 4, 30)
}

// TestZeroTailIsEnd: after a crash, the preallocated zeros behind the last
// entry are the end of the log, not a bad frame: nothing is cut or logged.
func TestZeroTailIsEnd(t *testing.T) {
	for _, segBytes := range []int64{0, 4096, 5*frameSize(30) + 7, 5*frameSize(30) + 16} {
		t.Run(fmt.Sprintf("segment=%d", segBytes), func(t *testing.T) {
			dir := t.TempDir()
			opts := wal.FileOptions{SegmentBytes: segBytes}
			w := openFile(t, dir, opts)
			for i := range 5 {
				appendSync(t, w, bytes.Repeat([]byte{byte(i)}, 30))
			}
			img := crashImage(t, dir)
			if got := fileSize(t, segPath(img, 1)); got <= 5*frameSize(30) {
				t.Fatalf("crash image is %d bytes: no zero tail to test", got)
			}
			logs := captureLogs(t, func(log *slog.Logger) {
				opts.Logger = log
				checkPrefix(t, img, opts, 5, 30)
			})
			checkNoWarning(t, logs)
		})
	}
}

// TestZeroTailInEarlierSegment: a segment left with zeros (a crash, then a
// smaller SegmentBytes) is followed by the next segment without a cut.
func TestZeroTailInEarlierSegment(t *testing.T) {
	dir := t.TempDir()
	w := openFile(t, dir, wal.FileOptions{SegmentBytes: 4096})
	for i := range 3 {
		appendSync(t, w, bytes.Repeat([]byte{byte(i)}, 30))
	}
	img := crashImage(t, dir)
	opts := wal.FileOptions{SegmentBytes: frameSize(30)}
	w2 := openFile(t, img, opts)
	replayAll(t, w2)
	for i := 3; i < 6; i++ {
		appendSync(t, w2, bytes.Repeat([]byte{byte(i)}, 30))
	}
	img2 := crashImage(t, img)
	if got := len(segmentNames(t, img2)); got != 4 {
		t.Fatalf("%d segments, want 4", got)
	}
	if got := fileSize(t, segPath(img2, 1)); got != 4096 {
		t.Fatalf("first segment is %d bytes, want its zero tail kept", got)
	}
	logs := captureLogs(t, func(log *slog.Logger) {
		opts.Logger = log
		checkPrefix(t, img2, opts, 6, 30)
	})
	checkNoWarning(t, logs)
}

// TestZeroedFrameBeforeData: zeros followed by more frames are not a clean
// end (a disk that wrote a later block but not an earlier one, or zeroed
// one): the log is cut there, with a warning.
func TestZeroedFrameBeforeData(t *testing.T) {
	dir := t.TempDir()
	opts := wal.FileOptions{SegmentBytes: 4096}
	w := openFile(t, dir, opts)
	for i := range 5 {
		appendSync(t, w, bytes.Repeat([]byte{byte(i)}, 30))
	}
	img := crashImage(t, dir)
	path := segPath(img, 1)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[3*frameSize(30) : 4*frameSize(30)]) // entry 4
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	logs := captureLogs(t, func(log *slog.Logger) {
		opts.Logger = log
		checkPrefix(t, img, opts, 3, 30)
	})
	checkWarned(t, logs, map[string]any{
		"segment": "wal-00000000000000000001.log",
		"offset":  float64(3 * frameSize(30)),
		"reason":  "zeroed frame header before non-zero bytes",
	})
}

// TestCrashImagesWithTornTail takes crash images at random points of a run
// with rolling, preallocated segments, writes part of a never-acknowledged
// batch (or garbage) over the zeros behind the last entry, as a crash
// mid-write leaves it, and checks that recovery keeps exactly the
// acknowledged entries, plus at most whole frames of the torn batch.
func TestCrashImagesWithTornTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	opts := wal.FileOptions{SegmentBytes: 2048}
	dir := t.TempDir()
	w := openFile(t, dir, opts)
	var sizes []int
	for round := range 40 {
		n := 1 + rng.IntN(4)
		for range n {
			size := rng.IntN(300)
			appendSync(t, w, entryData(len(sizes), size))
			sizes = append(sizes, size)
		}
		img := crashImage(t, dir)
		names := segmentNames(t, img)
		last := filepath.Join(img, names[len(names)-1])
		end := dataEnd(t, img, names, sizes)

		// The torn batch: the next entries' frames, cut short anywhere, or
		// random bytes.
		var torn []byte
		if rng.IntN(3) == 0 {
			torn = make([]byte, 1+rng.IntN(100))
			for i := range torn {
				torn[i] = byte(rng.Uint32())
			}
		} else {
			torn = frameBytes(t, uint64(len(sizes)+1), entryData(len(sizes), 40))
			torn = append(torn, frameBytes(t, uint64(len(sizes)+2), entryData(len(sizes)+1, 40))...)
			torn = torn[:rng.IntN(len(torn)+1)]
		}
		f, err := os.OpenFile(last, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(torn, end); err != nil {
			t.Fatal(err)
		}
		f.Close()

		t.Run(fmt.Sprintf("round=%d", round), func(t *testing.T) {
			r := openFile(t, img, wal.FileOptions{SegmentBytes: opts.SegmentBytes, Logger: slog.New(slog.DiscardHandler)})
			seqs, data := replayAll(t, r)
			if len(seqs) < len(sizes) || len(seqs) > len(sizes)+2 {
				t.Fatalf("replayed %d entries, want %d acknowledged (+ at most 2 torn)", len(seqs), len(sizes))
			}
			for i := range sizes {
				if seqs[i] != uint64(i+1) || !bytes.Equal(data[i], entryData(i, sizes[i])) {
					t.Fatalf("entry %d: seq %d %.20q", i, seqs[i], data[i])
				}
			}
			next := uint64(len(seqs) + 1)
			if seq := appendSync(t, r, []byte("after")); seq != next {
				t.Fatalf("Append after recovery got seq %d, want %d", seq, next)
			}
		})
	}
}

func entryData(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

// frameBytes is the frame of one entry, as the File writes it.
func frameBytes(t *testing.T, seq uint64, data []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	w := openFile(t, dir, wal.FileOptions{SegmentBytes: 1})
	for range seq - 1 {
		appendSync(t, w, nil)
	}
	appendSync(t, w, data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(segPath(dir, seq))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dataEnd is where the entries of the last of names end, knowing that a
// segment rolls once it holds SegmentBytes or more.
func dataEnd(t *testing.T, dir string, names []string, sizes []int) int64 {
	t.Helper()
	var first uint64
	if _, err := fmt.Sscanf(names[len(names)-1], "wal-%d.log", &first); err != nil {
		t.Fatal(err)
	}
	var end int64
	for _, size := range sizes[first-1:] {
		end += frameSize(size)
	}
	return end
}

// TestAllocateFails: preallocation is an optimization; without it the
// segment grows as it is written, and a warning says why.
func TestAllocateFails(t *testing.T) {
	dir := t.TempDir()
	ffs := wal.NewFaultFS(nil)
	ffs.FailAfter(wal.OpAllocate, 0, nil)
	var w *wal.File
	logs := captureLogs(t, func(log *slog.Logger) {
		w = openFile(t, dir, wal.FileOptions{FS: ffs, SegmentBytes: 4096, Logger: log})
	})
	checkWarned(t, logs, map[string]any{"msg": "wal: preallocate segment"})
	for i := range 3 {
		appendSync(t, w, bytes.Repeat([]byte{byte(i)}, 30))
	}
	if got, want := fileSize(t, segPath(dir, 1)), 3*frameSize(30); got != want {
		t.Fatalf("segment is %d bytes, want %d", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkPrefix(t, dir, wal.FileOptions{}, 3, 30)
}
