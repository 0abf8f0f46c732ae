package wal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirdb/weir/internal/storage/wal"
)

// frameSize is the on-disk size of an entry of n bytes (see doc.go).
func frameSize(n int) int64 { return int64(16 + n) }

func segPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("wal-%020d.log", first))
}

// results records done errors in callback order, which is seq order.
type results struct {
	mu   sync.Mutex // guards the following
	errs []error
}

func (r *results) done(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *results) get() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// writeEntries writes n entries of entrySize bytes into a new WAL in dir
// and closes it. Entry i (seq i+1) is filled with byte i.
func writeEntries(t *testing.T, dir string, opts wal.FileOptions, n, entrySize int) {
	t.Helper()
	w := openFile(t, dir, opts)
	for i := range n {
		appendSync(t, w, bytes.Repeat([]byte{byte(i)}, entrySize))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkPrefix reopens dir, checks that it replays exactly seqs 1..n as
// written by writeEntries, then that a new entry becomes n+1 and survives a
// second reopen.
func checkPrefix(t *testing.T, dir string, opts wal.FileOptions, n, entrySize int) {
	t.Helper()
	w := openFile(t, dir, opts)
	seqs, data := replayAll(t, w)
	if len(seqs) != n {
		t.Fatalf("replayed %d entries, want %d", len(seqs), n)
	}
	for i := range seqs {
		if seqs[i] != uint64(i+1) || !bytes.Equal(data[i], bytes.Repeat([]byte{byte(i)}, entrySize)) {
			t.Fatalf("replayed entry %d is seq %d %.20q", i, seqs[i], data[i])
		}
	}
	if seq := appendSync(t, w, []byte("new")); seq != uint64(n+1) {
		t.Fatalf("Append after recovery got seq %d, want %d", seq, n+1)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = openFile(t, dir, opts)
	seqs, data = replayAll(t, w)
	if len(seqs) != n+1 || string(data[n]) != "new" {
		t.Fatalf("after recovery and one Append: replayed %v", seqs)
	}
}

func TestFailedSyncFailsBatchAndLater(t *testing.T) {
	dir := t.TempDir()
	ffs := wal.NewFaultFS(nil)
	w := openFile(t, dir, wal.FileOptions{FS: ffs})
	appendSync(t, w, []byte("durable"))

	ffs.FailAfter(wal.OpSync, 0, nil)
	var r results
	for i := range 20 {
		if _, err := w.Append([]byte{byte(i)}, r.done); err != nil {
			// The first batch may already have failed.
			if !errors.Is(err, wal.ErrInjected) {
				t.Fatalf("Append: %v", err)
			}
			break
		}
	}
	// Append returns an error only once the WAL has failed, so this waits.
	var err error
	for err == nil {
		_, err = w.Append([]byte("late"), r.done)
	}
	if !errors.Is(err, wal.ErrInjected) {
		t.Fatalf("Append after a failed sync returned %v, want it to wrap ErrInjected", err)
	}
	if err := w.Close(); !errors.Is(err, wal.ErrInjected) {
		t.Fatalf("Close returned %v, want the failure", err)
	}
	errs := r.get()
	if len(errs) == 0 {
		t.Fatal("no callbacks")
	}
	for i, err := range errs {
		if !errors.Is(err, wal.ErrInjected) || !strings.Contains(err.Error(), "sync wal segment wal-00000000000000000001.log") {
			t.Fatalf("callback %d got %v, want a failed sync of segment 1", i, err)
		}
	}
}

func TestFailedSyncMidStream(t *testing.T) {
	dir := t.TempDir()
	ffs := wal.NewFaultFS(nil)
	w := openFile(t, dir, wal.FileOptions{FS: ffs})
	ffs.FailAfter(wal.OpSync, 10, nil)

	// Producers that wait for each acknowledgement, so that there are many
	// batches.
	var r results
	var mu sync.Mutex
	data := make(map[uint64][]byte)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			acked := make(chan error, 1)
			for j := range 50 {
				d := fmt.Appendf(nil, "%d/%d", g, j)
				seq, err := w.Append(d, func(err error) { r.done(err); acked <- err })
				if err != nil {
					return
				}
				mu.Lock()
				data[seq] = d
				mu.Unlock()
				<-acked
			}
		})
	}
	wg.Wait()
	w.Close()

	// Callbacks come in seq order: successes, then only failures.
	errs := r.get()
	if len(errs) != len(data) {
		t.Fatalf("%d callbacks for %d appended entries", len(errs), len(data))
	}
	durable := 0
	for durable < len(errs) && errs[durable] == nil {
		durable++
	}
	for i, err := range errs[durable:] {
		if !errors.Is(err, wal.ErrInjected) {
			t.Fatalf("seq %d: %v after a failed sync", durable+i+1, err)
		}
	}
	if durable == len(errs) {
		t.Fatal("no entry failed")
	}

	// Every acknowledged entry survives. Entries that were written but
	// whose sync failed may survive too: the page cache kept them.
	w = openFile(t, dir, wal.FileOptions{})
	seqs, got := replayAll(t, w)
	if len(seqs) < durable {
		t.Fatalf("replayed %d entries, %d were acknowledged", len(seqs), durable)
	}
	for i, seq := range seqs {
		if seq != uint64(i+1) || !bytes.Equal(got[i], data[seq]) {
			t.Fatalf("replayed seq %d %q, want seq %d %q", seq, got[i], i+1, data[uint64(i+1)])
		}
	}
}

func TestFailedWrite(t *testing.T) {
	dir := t.TempDir()
	ffs := wal.NewFaultFS(nil)
	w := openFile(t, dir, wal.FileOptions{FS: ffs})
	appendSync(t, w, bytes.Repeat([]byte{0}, 10))
	ffs.FailAfter(wal.OpWrite, 0, nil)
	errc := make(chan error, 1)
	if _, err := w.Append([]byte("lost"), func(err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, wal.ErrInjected) || !strings.Contains(err.Error(), "write wal segment") {
		t.Fatalf("callback got %v, want a failed write", err)
	}
	if _, err := w.Append([]byte("later"), nil); !errors.Is(err, wal.ErrInjected) {
		t.Fatalf("Append after a failed write returned %v", err)
	}
	w.Close()
	checkPrefix(t, dir, wal.FileOptions{}, 1, 10)
}

func TestTornWriteThenReopen(t *testing.T) {
	for _, keep := range []int{0, 1, 15, 16, 17, 20, 36} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			dir := t.TempDir()
			ffs := wal.NewFaultFS(nil)
			w := openFile(t, dir, wal.FileOptions{FS: ffs})
			for i := range 5 {
				appendSync(t, w, bytes.Repeat([]byte{byte(i)}, 20))
			}
			// One batch of two 36-byte frames; keep=36 leaves the first
			// whole, so it replays although its callback failed.
			ffs.TearNextWrite(keep)
			var r results
			w.Append(bytes.Repeat([]byte{5}, 20), r.done)
			w.Append(bytes.Repeat([]byte{6}, 20), r.done)
			if err := w.Close(); !errors.Is(err, wal.ErrInjected) {
				t.Fatalf("Close after a torn write returned %v", err)
			}
			for _, err := range r.get() {
				if err == nil {
					t.Fatal("an entry of a torn batch was acknowledged")
				}
			}
			n := 5
			if keep >= 36 {
				n = 6
			}
			checkPrefix(t, dir, wal.FileOptions{}, n, 20)
		})
	}
}

func TestGarbageTailCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 15, 16, 17, 100, 5000} {
		t.Run(fmt.Sprintf("bytes=%d", size), func(t *testing.T) {
			dir := t.TempDir()
			writeEntries(t, dir, wal.FileOptions{}, 5, 30)
			garbage := make([]byte, size)
			for i := range garbage {
				garbage[i] = byte(rng.Uint32())
			}
			appendToFile(t, segPath(dir, 1), garbage)
			checkPrefix(t, dir, wal.FileOptions{}, 5, 30)
		})
	}
}

func TestCorruptByteCut(t *testing.T) {
	dir := t.TempDir()
	writeEntries(t, dir, wal.FileOptions{}, 10, 30)
	// Inside the data of entry 6 (seq 6).
	off := 5*frameSize(30) + 16 + 7
	flipByte(t, segPath(dir, 1), off)

	logs := captureLogs(t, func(log *slog.Logger) {
		checkPrefix(t, dir, wal.FileOptions{Logger: log}, 5, 30)
	})
	want := map[string]any{
		"segment":          "wal-00000000000000000001.log",
		"offset":           float64(5 * frameSize(30)),
		"reason":           "checksum mismatch",
		"deleted_segments": float64(0),
	}
	checkWarned(t, logs, want)
}

func TestCorruptMiddleSegmentDropsLater(t *testing.T) {
	dir := t.TempDir()
	opts := wal.FileOptions{SegmentBytes: frameSize(30)} // one entry per segment
	writeEntries(t, dir, opts, 10, 30)
	flipByte(t, segPath(dir, 3), 9) // in the seq of entry 3

	logs := captureLogs(t, func(log *slog.Logger) {
		opts.Logger = log
		checkPrefix(t, dir, opts, 2, 30)
	})
	checkWarned(t, logs, map[string]any{
		"segment":          "wal-00000000000000000003.log",
		"offset":           float64(0),
		"reason":           "checksum mismatch",
		"deleted_segments": float64(7),
	})
	// Entry 3 was written again, into the truncated segment 3.
	want := []string{filepath.Base(segPath(dir, 1)), filepath.Base(segPath(dir, 2)), filepath.Base(segPath(dir, 3))}
	if got := segmentNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
}

func TestMissingSegmentCut(t *testing.T) {
	dir := t.TempDir()
	opts := wal.FileOptions{SegmentBytes: frameSize(30)}
	writeEntries(t, dir, opts, 5, 30)
	if err := os.Remove(segPath(dir, 3)); err != nil {
		t.Fatal(err)
	}
	checkPrefix(t, dir, opts, 2, 30)
	if _, err := os.Stat(segPath(dir, 5)); !os.IsNotExist(err) {
		t.Fatalf("segment 5 after a hole at 3 was kept (%v)", err)
	}
}

func TestReadErrorChangesNothing(t *testing.T) {
	dir := t.TempDir()
	writeEntries(t, dir, wal.FileOptions{}, 5, 30)
	ffs := wal.NewFaultFS(nil)
	ffs.FailAfter(wal.OpRead, 0, nil)
	if _, err := wal.OpenFile(dir, wal.FileOptions{FS: ffs, Logger: testLogger(t)}); !errors.Is(err, wal.ErrInjected) {
		t.Fatalf("OpenFile with failing reads returned %v", err)
	}
	checkPrefix(t, dir, wal.FileOptions{}, 5, 30)
}

func TestFailedCutFailsOpen(t *testing.T) {
	dir := t.TempDir()
	writeEntries(t, dir, wal.FileOptions{}, 5, 30)
	appendToFile(t, segPath(dir, 1), []byte("torn"))
	ffs := wal.NewFaultFS(nil)
	ffs.FailAfter(wal.OpTruncate, 0, nil)
	if _, err := wal.OpenFile(dir, wal.FileOptions{FS: ffs, Logger: testLogger(t)}); !errors.Is(err, wal.ErrInjected) {
		t.Fatalf("OpenFile with failing truncate returned %v", err)
	}
	checkPrefix(t, dir, wal.FileOptions{}, 5, 30)
}

func TestFailedRoll(t *testing.T) {
	for _, op := range []wal.Op{wal.OpCreate, wal.OpSyncDir} {
		t.Run(fmt.Sprint(op), func(t *testing.T) {
			dir := t.TempDir()
			ffs := wal.NewFaultFS(nil)
			opts := wal.FileOptions{FS: ffs, SegmentBytes: frameSize(30)}
			w := openFile(t, dir, opts)
			appendSync(t, w, bytes.Repeat([]byte{0}, 30))
			ffs.FailAfter(op, 0, nil)
			errc := make(chan error, 1)
			w.Append([]byte("next segment"), func(err error) { errc <- err })
			if err := <-errc; !errors.Is(err, wal.ErrInjected) {
				t.Fatalf("roll with failing %v: callback got %v", op, err)
			}
			if _, err := w.Append(nil, nil); !errors.Is(err, wal.ErrInjected) {
				t.Fatalf("Append after a failed roll returned %v", err)
			}
			w.Close()
			opts.FS = nil
			checkPrefix(t, dir, opts, 1, 30)
		})
	}
}

func TestTrimRemoveFails(t *testing.T) {
	dir := t.TempDir()
	ffs := wal.NewFaultFS(nil)
	// No recycling: every trimmed segment is removed (recycle_test.go
	// covers failures of recycling).
	w := openFile(t, dir, wal.FileOptions{FS: ffs, SegmentBytes: frameSize(30), RecycleSegments: -1})
	for range 5 {
		appendSync(t, w, bytes.Repeat([]byte{0}, 30))
	}
	ffs.FailAfter(wal.OpRemove, 1, nil)
	if err := w.Trim(5); !errors.Is(err, wal.ErrInjected) {
		t.Fatalf("Trim with failing remove returned %v", err)
	}
	if got := len(segmentNames(t, dir)); got != 4 {
		t.Fatalf("%d segments after a Trim that removed one, want 4", got)
	}
	appendSync(t, w, []byte("still works"))
	ffs.Heal()
	if err := w.Trim(5); err != nil {
		t.Fatal(err)
	}
	if got := len(segmentNames(t, dir)); got != 2 {
		t.Fatalf("%d segments after Trim(5), want 2", got)
	}
}

func appendToFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// captureLogs runs fn with a logger and returns the records it logged.
func captureLogs(t *testing.T, fn func(*slog.Logger)) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	fn(slog.New(slog.NewJSONHandler(&buf, nil)))
	var records []map[string]any
	for line := range bytes.Lines(buf.Bytes()) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
	}
	return records
}

// checkWarned checks that exactly one warning was logged, with the
// attributes in want.
func checkWarned(t *testing.T, records []map[string]any, want map[string]any) {
	t.Helper()
	var warns []map[string]any
	for _, rec := range records {
		if rec["level"] == "WARN" {
			warns = append(warns, rec)
		}
	}
	if len(warns) != 1 {
		t.Fatalf("logged %d warnings, want 1: %v", len(warns), records)
	}
	for k, v := range want {
		if warns[0][k] != v {
			t.Errorf("warning has %s=%v, want %v", k, warns[0][k], v)
		}
	}
}
