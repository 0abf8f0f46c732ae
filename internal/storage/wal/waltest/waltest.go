// Package waltest is the acceptance suite that every wal.WAL implementation
// passes, so that the contract in package wal is checked in one place.
package waltest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/storage/wal"
)

// Options say what the WAL under test can do.
type Options struct {
	// Persistent says that entries outlive Close: opening the same dir
	// again replays them. Without it the suite opens each WAL only once.
	Persistent bool
}

// Run runs the suite. open returns a WAL over dir, a fresh directory per
// test, and is called again with the same dir after Close when
// opts.Persistent is set. The suite closes every WAL it opens.
func Run(t *testing.T, open func(t *testing.T, dir string) wal.WAL, opts Options) {
	s := suite{openFn: open, persistent: opts.Persistent}
	t.Run("Empty", s.empty)
	t.Run("AppendReplay", s.appendReplay)
	t.Run("ConcurrentAppend", s.concurrentAppend)
	t.Run("TrimReopen", s.trimReopen)
	t.Run("CloseFlushes", s.closeFlushes)
	t.Run("AppendAfterClose", s.appendAfterClose)
	t.Run("ReplayError", s.replayError)
}

type suite struct {
	openFn     func(t *testing.T, dir string) wal.WAL
	persistent bool
}

func (s suite) open(t *testing.T, dir string) wal.WAL {
	t.Helper()
	w := s.openFn(t, dir)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func (s suite) empty(t *testing.T) {
	w := s.open(t, t.TempDir())
	if got := replay(t, w); len(got) != 0 {
		t.Fatalf("a new WAL replayed %d entries", len(got))
	}
	var r recorder
	seq, err := w.Append([]byte("x"), r.done(0))
	if err != nil {
		t.Fatal(err)
	}
	if seq != 1 {
		t.Fatalf("first Append got seq %d, want 1", seq)
	}
	mustClose(t, w)
	r.check(t, []uint64{seq})
}

func (s suite) appendReplay(t *testing.T) {
	dir := t.TempDir()
	entries := [][]byte{[]byte("first"), {}, bytes.Repeat([]byte{0xab}, 64<<10)}
	for i := range 50 {
		entries = append(entries, entry(i))
	}

	w := s.open(t, dir)
	if got := replay(t, w); len(got) != 0 {
		t.Fatalf("a new WAL replayed %d entries", len(got))
	}
	seqs := appendWait(t, w, entries...)
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("entry %d got seq %d, want %d", i, seq, i+1)
		}
	}
	mustClose(t, w)
	if !s.persistent {
		return
	}

	w = s.open(t, dir)
	checkReplay(t, replay(t, w), 1, entries)
	more := []byte("after reopen")
	if seqs := appendWait(t, w, more); seqs[0] != uint64(len(entries)+1) {
		t.Fatalf("Append after reopen got seq %d, want %d", seqs[0], len(entries)+1)
	}
	mustClose(t, w)
	entries = append(entries, more)

	// Numbering continues even when nothing is replayed first.
	w = s.open(t, dir)
	last := []byte("without replay")
	if seqs := appendWait(t, w, last); seqs[0] != uint64(len(entries)+1) {
		t.Fatalf("Append without Replay got seq %d, want %d", seqs[0], len(entries)+1)
	}
	mustClose(t, w)
	entries = append(entries, last)

	w = s.open(t, dir)
	checkReplay(t, replay(t, w), 1, entries)
	mustClose(t, w)
}

func (s suite) concurrentAppend(t *testing.T) {
	const writers, perWriter = 8, 100
	dir := t.TempDir()
	w := s.open(t, dir)
	replay(t, w)

	var r recorder
	seqs := make([]uint64, writers*perWriter) // by id
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for j := range perWriter {
				id := g*perWriter + j
				seq, err := w.Append(entry(id), r.done(id))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				seqs[id] = seq
			}
		})
	}
	wg.Wait()
	mustClose(t, w)
	r.check(t, seqs)
	sorted := slices.Sorted(slices.Values(seqs))
	for i, seq := range sorted {
		if seq != uint64(i+1) {
			t.Fatalf("sequence numbers are not 1..%d: position %d holds %d", len(seqs), i, seq)
		}
	}
	if !s.persistent {
		return
	}

	w = s.open(t, dir)
	want := make([][]byte, len(seqs))
	for id, seq := range seqs {
		want[seq-1] = entry(id)
	}
	checkReplay(t, replay(t, w), 1, want)
}

func (s suite) trimReopen(t *testing.T) {
	const n, trimAt = 300, 250
	dir := t.TempDir()
	w := s.open(t, dir)
	replay(t, w)
	var entries [][]byte
	for i := range n {
		entries = append(entries, entry(i))
	}
	appendWait(t, w, entries...)
	for _, seq := range []uint64{0, 1, 100, trimAt} {
		if err := w.Trim(seq); err != nil {
			t.Fatalf("Trim(%d): %v", seq, err)
		}
	}
	// Entries after a trim are as safe as any.
	more := []byte("after trim")
	appendWait(t, w, more)
	entries = append(entries, more)
	mustClose(t, w)
	if !s.persistent {
		return
	}

	w = s.open(t, dir)
	got := replay(t, w)
	if len(got) == 0 || got[0].seq > trimAt {
		t.Fatalf("replay after Trim(%d) lost entries at or above it: %s", trimAt, describe(got))
	}
	checkReplay(t, got, got[0].seq, entries[got[0].seq-1:])
}

func (s suite) closeFlushes(t *testing.T) {
	const n = 200
	dir := t.TempDir()
	w := s.open(t, dir)
	replay(t, w)
	var r recorder
	seqs := make([]uint64, n)
	var entries [][]byte
	for i := range n {
		entries = append(entries, entry(i))
		seq, err := w.Append(entries[i], r.done(i))
		if err != nil {
			t.Fatal(err)
		}
		seqs[i] = seq
	}
	mustClose(t, w)
	r.check(t, seqs) // no waiting: Close returns after the callbacks
	if !s.persistent {
		return
	}

	w = s.open(t, dir)
	checkReplay(t, replay(t, w), 1, entries)
}

func (s suite) appendAfterClose(t *testing.T) {
	w := s.open(t, t.TempDir())
	replay(t, w)
	appendWait(t, w, []byte("x"))
	mustClose(t, w)
	var r recorder
	if _, err := w.Append([]byte("y"), r.done(0)); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("Append after Close returned %v, want ErrClosed", err)
	}
	if r.count() != 0 {
		t.Fatal("Append after Close called done")
	}
}

func (s suite) replayError(t *testing.T) {
	if !s.persistent {
		t.Skip("needs a persistent WAL")
	}
	dir := t.TempDir()
	w := s.open(t, dir)
	replay(t, w)
	appendWait(t, w, entry(0), entry(1), entry(2))
	mustClose(t, w)

	w = s.open(t, dir)
	stop := errors.New("stop here")
	calls := 0
	err := w.Replay(func(seq uint64, data []byte) error {
		calls++
		if seq == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("Replay returned %v after %d calls, want %v after 2", err, calls, stop)
	}
}

// entry returns test data that differs by i in content and in length.
func entry(i int) []byte {
	return fmt.Appendf(nil, "entry %d %s", i, bytes.Repeat([]byte{byte(i)}, i%97*7))
}

type replayed struct {
	seq  uint64
	data []byte
}

func replay(t *testing.T, w wal.WAL) []replayed {
	t.Helper()
	var got []replayed
	err := w.Replay(func(seq uint64, data []byte) error {
		got = append(got, replayed{seq, data})
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return got
}

// checkReplay checks that got holds want, numbered from first on.
func checkReplay(t *testing.T, got []replayed, first uint64, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replayed %s, want %d entries from seq %d", describe(got), len(want), first)
	}
	for i, e := range got {
		if e.seq != first+uint64(i) || !bytes.Equal(e.data, want[i]) {
			t.Fatalf("replayed entry %d is seq %d %.40q, want seq %d %.40q", i, e.seq, e.data, first+uint64(i), want[i])
		}
	}
}

func describe(got []replayed) string {
	if len(got) == 0 {
		return "no entries"
	}
	return fmt.Sprintf("%d entries, seq %d..%d", len(got), got[0].seq, got[len(got)-1].seq)
}

// appendWait appends entries one by one, waits until all are durable and
// checks their callbacks. It returns their sequence numbers.
func appendWait(t *testing.T, w wal.WAL, entries ...[]byte) []uint64 {
	t.Helper()
	var r recorder
	seqs := make([]uint64, len(entries))
	for i, e := range entries {
		seq, err := w.Append(e, r.done(i))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		seqs[i] = seq
	}
	r.wait(t, len(entries))
	r.check(t, seqs)
	return seqs
}

func mustClose(t *testing.T, w wal.WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// recorder records done callbacks under ids that the test chooses.
type recorder struct {
	mu   sync.Mutex // guards the following
	ids  []int
	errs []error
}

func (r *recorder) done(id int) func(error) {
	return func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ids = append(r.ids, id)
		r.errs = append(r.errs, err)
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.count()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callbacks after 10s", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// check checks that the entry of every id was called back exactly once,
// with success, in order of the sequence numbers seqs (indexed by id).
func (r *recorder) check(t *testing.T, seqs []uint64) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) != len(seqs) {
		t.Fatalf("%d callbacks for %d entries", len(r.ids), len(seqs))
	}
	seen := make([]bool, len(seqs))
	for k, id := range r.ids {
		if seen[id] {
			t.Fatalf("entry %d called back twice", id)
		}
		seen[id] = true
		if r.errs[k] != nil {
			t.Fatalf("entry %d (seq %d) failed: %v", id, seqs[id], r.errs[k])
		}
		if k > 0 && seqs[id] <= seqs[r.ids[k-1]] {
			t.Fatalf("callback for seq %d ran after seq %d", seqs[id], seqs[r.ids[k-1]])
		}
	}
}
