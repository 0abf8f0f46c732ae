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

	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segPath(dir, 1), seg, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := wal.FileOptions{Logger: slog.New(slog.DiscardHandler)}
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
