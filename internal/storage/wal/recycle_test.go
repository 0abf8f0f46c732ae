package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/weirdb/weir/internal/storage/wal"
)

func freeNames(t *testing.T, dir string) []string {
	t.Helper()
	return namesWithPrefix(t, dir, "free-")
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no inode numbers here")
	}
	return st.Ino
}

// Trimmed segments are kept, up to RecycleSegments, and become the next
// segments: the same files (inodes), not new ones.
func TestRecycleReusesTrimmedSegments(t *testing.T) {
	dir := t.TempDir()
	const entry = 100
	seg := 4 * frameSize(entry) // four entries per segment
	w := openFile(t, dir, wal.FileOptions{SegmentBytes: seg, RecycleSegments: 2})
	for i := range 16 { // segments 1, 5, 9, 13
		appendSync(t, w, entryData(i, entry))
	}
	first := inode(t, segPath(dir, 1))
	second := inode(t, segPath(dir, 5))
	if err := w.Trim(13); err != nil {
		t.Fatal(err)
	}
	if got := segmentNames(t, dir); len(got) != 1 {
		t.Fatalf("segments after Trim(13): %v, want only the active one", got)
	}
	if got := freeNames(t, dir); len(got) != 2 {
		t.Fatalf("free segments after trimming three: %v, want 2", got)
	}
	for i := 16; i < 28; i++ { // segments 17, 21, 25: two recycled, one new
		appendSync(t, w, entryData(i, entry))
	}
	if got := inode(t, segPath(dir, 17)); got != first {
		t.Errorf("segment 17 is inode %d, want %d (segment 1 recycled)", got, first)
	}
	if got := inode(t, segPath(dir, 21)); got != second {
		t.Errorf("segment 21 is inode %d, want %d (segment 5 recycled)", got, second)
	}
	// (Segment 9's inode number may have been reused by the new file.)
	if got := inode(t, segPath(dir, 25)); got == first || got == second {
		t.Errorf("segment 25 reuses inode %d of a recycled segment, want a new file", got)
	}
	if got := freeNames(t, dir); len(got) != 0 {
		t.Fatalf("free segments left: %v, want none", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	records := captureLogs(t, func(log *slog.Logger) {
		w2, err := wal.OpenFile(dir, wal.FileOptions{SegmentBytes: seg, RecycleSegments: 2, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		seqs, data := replayAll(t, w2)
		if len(seqs) != 28-12 || seqs[0] != 13 {
			t.Fatalf("replayed seqs %v, want 13..28", seqs)
		}
		for i, d := range data {
			if !bytes.Equal(d, entryData(12+i, entry)) {
				t.Fatalf("entry %d: wrong data", seqs[i])
			}
		}
	})
	checkNoWarning(t, records)
}

// A crash image of a WAL whose segments are recycled: every acknowledged
// entry comes back, including those in recycled segments that are followed
// by their old frames, and nothing before the active segment is cut.
func TestRecycledCrashImage(t *testing.T) {
	dir := t.TempDir()
	const entry = 100
	seg := 4 * frameSize(entry)
	opts := wal.FileOptions{SegmentBytes: seg, RecycleSegments: 3}
	w := openFile(t, dir, opts)
	// Entries of growing sizes, so that recycled segments' new frames
	// never line up with their old ones, and batches run past segBytes.
	next := 0
	add := func(n int) {
		for range n {
			appendSync(t, w, entryData(next, entry+next%7*13))
			next++
		}
	}
	add(40)
	for round := range 6 {
		// Keep the last two segments, as an uploader a little behind does.
		names := segmentNames(t, dir)
		keep := names[max(len(names)-2, 0)]
		var first uint64
		if _, err := fmtSscan(keep, &first); err != nil {
			t.Fatal(err)
		}
		if err := w.Trim(first); err != nil {
			t.Fatal(err)
		}
		add(17 + round)
		img := crashImage(t, dir)
		var seqs []uint64
		records := captureLogs(t, func(log *slog.Logger) {
			o := opts
			o.Logger = log
			w2, err := wal.OpenFile(img, o)
			if err != nil {
				t.Fatal(err)
			}
			defer w2.Close()
			seqs, _ = replayAll(t, w2)
		})
		if len(seqs) == 0 || seqs[len(seqs)-1] != uint64(next) {
			t.Fatalf("round %d: replay of the crash image ends at %v, want %d", round, seqs[len(seqs)-1:], next)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("round %d: replay skips from %d to %d", round, seqs[i-1], seqs[i])
			}
		}
		if seqs[0] > first {
			t.Fatalf("round %d: replay starts at %d, after the kept segment's %d", round, seqs[0], first)
		}
		// A cut is allowed only in the active segment, where a crash
		// leaves the old frames of a recycled segment behind the new ones.
		active := segmentNames(t, dir)
		for _, rec := range records {
			if rec["level"] == "WARN" && (rec["segment"] != active[len(active)-1] || rec["deleted_segments"] != 0.0) {
				t.Fatalf("round %d: warning outside the active segment: %v", round, rec)
			}
		}
	}
}

// fmtSscan reads the first sequence number from a segment name.
func fmtSscan(name string, first *uint64) (int, error) {
	digits := strings.TrimSuffix(strings.TrimPrefix(name, "wal-"), ".log")
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, errors.New("not a segment name: " + name)
		}
		n = n*10 + uint64(c-'0')
	}
	*first = n
	return 1, nil
}

// A frame lost in a segment that is followed by another is still a cut,
// even in a recycled one: the next segment does not start where the frames
// stop.
func TestRecycledSegmentLostFrameCut(t *testing.T) {
	dir := t.TempDir()
	const entry = 100
	seg := 4 * frameSize(entry)
	opts := wal.FileOptions{SegmentBytes: seg, RecycleSegments: 2}
	w := openFile(t, dir, opts)
	for i := range 12 {
		appendSync(t, w, entryData(i, entry))
	}
	if err := w.Trim(9); err != nil { // segments 1 and 5 become free
		t.Fatal(err)
	}
	for i := 12; i < 24; i++ { // 13 and 17 recycled, 21 new
		appendSync(t, w, entryData(i, entry))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Corrupt the last frame of recycled segment 13 (entry 16).
	flipByte(t, segPath(dir, 13), 3*frameSize(entry)+20)
	records := captureLogs(t, func(log *slog.Logger) {
		o := opts
		o.Logger = log
		w2, err := wal.OpenFile(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		seqs, _ := replayAll(t, w2)
		if len(seqs) == 0 || seqs[len(seqs)-1] != 15 {
			t.Fatalf("replayed %v, want up to 15", seqs)
		}
	})
	checkWarned(t, records, map[string]any{"segment": filepath.Base(segPath(dir, 13)), "deleted_segments": 2.0})
}

// Free segments survive a restart and are reused after it; extra or short
// ones are deleted.
func TestRecycleFreeSegmentsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const entry = 100
	seg := 4 * frameSize(entry)
	opts := wal.FileOptions{SegmentBytes: seg, RecycleSegments: 3}
	w := openFile(t, dir, opts)
	for i := range 16 {
		appendSync(t, w, entryData(i, entry))
	}
	if err := w.Trim(13); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	free := freeNames(t, dir)
	if len(free) != 3 {
		t.Fatalf("free segments %v, want 3", free)
	}
	if err := os.Truncate(filepath.Join(dir, free[1]), seg-1); err != nil {
		t.Fatal(err)
	}
	opts.RecycleSegments = 1
	w = openFile(t, dir, opts)
	if got := freeNames(t, dir); len(got) != 1 || got[0] != free[0] {
		t.Fatalf("free segments after reopening with RecycleSegments 1: %v, want [%s]", got, free[0])
	}
	ino := inode(t, filepath.Join(dir, free[0]))
	for i := 16; i < 20; i++ {
		appendSync(t, w, entryData(i, entry))
	}
	if got := inode(t, segPath(dir, 17)); got != ino {
		t.Fatalf("segment 17 is inode %d, want the free segment's %d", got, ino)
	}
}

// A failed rename while recycling a segment falls back to deleting it; a
// failed rename while reusing one fails the batch, like a failed create.
func TestRecycleRenameFails(t *testing.T) {
	dir := t.TempDir()
	ffs := wal.NewFaultFS(nil)
	const entry = 100
	seg := 4 * frameSize(entry)
	w := openFile(t, dir, wal.FileOptions{FS: ffs, SegmentBytes: seg, RecycleSegments: 2})
	for i := range 12 { // segments 1, 5, 9
		appendSync(t, w, entryData(i, entry))
	}
	ffs.FailAfter(wal.OpRename, 1, nil)
	if err := w.Trim(9); err != nil {
		t.Fatal(err)
	}
	ffs.Heal()
	if got := freeNames(t, dir); len(got) != 1 {
		t.Fatalf("free segments %v, want 1 (the second rename failed)", got)
	}
	if got := segmentNames(t, dir); len(got) != 1 {
		t.Fatalf("segments %v, want only the active one", got)
	}
	for i := 12; i < 16; i++ { // segment 13, recycled
		appendSync(t, w, entryData(i, entry))
	}
	if err := w.Trim(13); err != nil { // segment 9 becomes free
		t.Fatal(err)
	}
	ffs.FailAfter(wal.OpRename, 0, nil)
	errc := make(chan error, 1)
	if _, err := w.Append(entryData(16, entry), func(err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, wal.ErrInjected) {
		t.Fatalf("append rolling into a free segment that cannot be renamed: %v, want the injected fault", err)
	}
}

// A reopened segment is not extended with fallocate when a free segment is
// ready: the first batch after the restart moves on to the free segment,
// and the short segment keeps its entries.
func TestReopenRollsToFreeSegment(t *testing.T) {
	const entry = 100
	seg := 4 * frameSize(entry)
	for _, recycle := range []int{2, -1} {
		t.Run(fmt.Sprintf("recycle=%d", recycle), func(t *testing.T) {
			dir := t.TempDir()
			opts := wal.FileOptions{SegmentBytes: seg, RecycleSegments: recycle}
			w := openFile(t, dir, opts)
			for i := range 10 { // segments 1, 5 and 9 (entries 9 and 10)
				appendSync(t, w, entryData(i, entry))
			}
			if err := w.Trim(9); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			free := freeNames(t, dir)
			w = openFile(t, dir, opts)
			var freeIno uint64
			if len(free) > 0 {
				freeIno = inode(t, filepath.Join(dir, free[0]))
			}
			if _, data := replayAll(t, w); len(data) != 2 {
				t.Fatalf("replayed %d entries after reopening, want 2", len(data))
			}
			appendSync(t, w, entryData(10, entry))

			info, err := os.Stat(segPath(dir, 9))
			if err != nil {
				t.Fatal(err)
			}
			if recycle > 0 {
				if want := 2 * frameSize(entry); info.Size() != want {
					t.Errorf("reopened segment 9 is %d bytes, want its two frames' %d", info.Size(), want)
				}
				if got := inode(t, segPath(dir, 11)); got != freeIno {
					t.Errorf("segment 11 is inode %d, want the free segment's %d", got, freeIno)
				}
			} else {
				if info.Size() != seg {
					t.Errorf("reopened segment 9 is %d bytes, want it preallocated to %d", info.Size(), seg)
				}
				if _, err := os.Stat(segPath(dir, 11)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("segment 11 exists (%v), want entry 11 in segment 9", err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w = openFile(t, dir, opts)
			seqs, data := replayAll(t, w)
			if len(seqs) != 3 || seqs[0] != 9 || seqs[2] != 11 {
				t.Fatalf("replayed %v, want 9 10 11", seqs)
			}
			for i, d := range data {
				if !bytes.Equal(d, entryData(8+i, entry)) {
					t.Errorf("entry %d differs", seqs[i])
				}
			}
			w.Close()
		})
	}
}
