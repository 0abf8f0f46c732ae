package wal_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirdb/weir/internal/storage/wal"
)

// fuzzEntries are the entries whose segment FuzzReplay mutates.
var fuzzEntries = [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("bc"), 40), []byte("d"), bytes.Repeat([]byte{0}, 16)}

func FuzzReplay(f *testing.F) {
	dir := f.TempDir()
	w, err := wal.OpenFile(dir, wal.FileOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range fuzzEntries {
		appendSync(f, w, e)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	seg, err := os.ReadFile(segPath(dir, 1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-1])
	f.Add(seg[:20])
	f.Add(append(bytes.Clone(seg), 0xff, 0xff, 0xff, 0x7f))
	flipped := bytes.Clone(seg)
	flipped[len(flipped)/2] ^= 1
	f.Add(flipped)
	f.Add([]byte{})
	// Preallocated zeros behind the entries (a crash leaves them), some
	// too few for a frame header, some with bytes after them, a torn frame
	// in front of them, or a zeroed frame in the middle.
	zeros := make([]byte, 100)
	f.Add(append(bytes.Clone(seg), zeros...))
	f.Add(append(bytes.Clone(seg), zeros[:7]...))
	f.Add(append(append(bytes.Clone(seg), zeros...), 1))
	f.Add(append(bytes.Clone(seg[:len(seg)-3]), zeros...))
	f.Add(zeros)
	zeroed := bytes.Clone(seg)
	clear(zeroed[17:34]) // the frame of the empty second entry, and a byte more
	f.Add(zeroed)

	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segPath(dir, 1), seg, 0o644); err != nil {
			t.Fatal(err)
		}
		// Segments large enough that "after" never rolls into a second one,
		// small enough that preallocating them on every open is cheap.
		opts := wal.FileOptions{SegmentBytes: 4 << 20, Logger: slog.New(slog.DiscardHandler)}
		got := reopenReplay(t, dir, opts)
		if len(got) > len(fuzzEntries) || !slices.EqualFunc(got, fuzzEntries[:len(got)], bytes.Equal) {
			t.Fatalf("replayed %q, not a prefix of what was written", got)
		}

		w, err := wal.OpenFile(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if seq := appendSync(t, w, []byte("after")); seq != uint64(len(got)+1) {
			t.Fatalf("Append after replaying %d entries got seq %d", len(got), seq)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		want := append(got, []byte("after"))
		if again := reopenReplay(t, dir, opts); !slices.EqualFunc(again, want, bytes.Equal) {
			t.Fatalf("after one Append: replayed %q, want %q", again, want)
		}
	})
}

// reopenReplay opens dir, replays it, checks the numbering and that the log
// is one segment, and closes it.
func reopenReplay(t *testing.T, dir string, opts wal.FileOptions) [][]byte {
	t.Helper()
	w, err := wal.OpenFile(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	seqs, data := replayAll(t, w)
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("replayed seq %d at position %d", seq, i)
		}
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "wal-*")); len(names) != 1 {
		t.Fatalf("segments %v, want one", names)
	}
	return data
}
