package wal_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/storage/wal"
	"github.com/weirdb/weir/internal/storage/wal/waltest"
)

func TestFile(t *testing.T) {
	for _, segBytes := range []int64{0, 1 << 10} {
		t.Run(fmt.Sprintf("SegmentBytes=%d", segBytes), func(t *testing.T) {
			waltest.Run(t, func(t *testing.T, dir string) wal.WAL {
				return openFile(t, dir, wal.FileOptions{SegmentBytes: segBytes})
			}, waltest.Options{Persistent: true})
		})
	}
}

func TestFileSegmentsAndTrim(t *testing.T) {
	dir := t.TempDir()
	w := openFile(t, dir, wal.FileOptions{SegmentBytes: 100})
	for i := range 10 {
		appendSync(t, w, bytes.Repeat([]byte{byte(i)}, 84)) // one 100-byte frame
	}
	want := []string{}
	for seq := 1; seq <= 10; seq++ {
		want = append(want, fmt.Sprintf("wal-%020d.log", seq))
	}
	if got := segmentNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}

	// Segment 4 holds only entry 4, so Trim(5) may delete segments 1..4.
	if err := w.Trim(5); err != nil {
		t.Fatal(err)
	}
	if got := segmentNames(t, dir); !slices.Equal(got, want[4:]) {
		t.Fatalf("after Trim(5): segments %v, want %v", got, want[4:])
	}
	// The active segment stays, whatever the trim point.
	if err := w.Trim(1 << 40); err != nil {
		t.Fatal(err)
	}
	if got := segmentNames(t, dir); !slices.Equal(got, want[9:]) {
		t.Fatalf("after Trim(huge): segments %v, want %v", got, want[9:])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Trim(20); err != wal.ErrClosed {
		t.Fatalf("Trim after Close returned %v, want ErrClosed", err)
	}

	w = openFile(t, dir, wal.FileOptions{SegmentBytes: 100})
	if seqs, _ := replayAll(t, w); !slices.Equal(seqs, []uint64{10}) {
		t.Fatalf("replayed %v, want [10]", seqs)
	}
	if seq := appendSync(t, w, []byte("next")); seq != 11 {
		t.Fatalf("Append got seq %d, want 11", seq)
	}
}

// TestFrameLayout keeps the worked example in the package doc true.
func TestFrameLayout(t *testing.T) {
	dir := t.TempDir()
	w := openFile(t, dir, wal.FileOptions{})
	for range 6 {
		appendSync(t, w, []byte("x"))
	}
	appendSync(t, w, []byte("hi"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "wal-00000000000000000001.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x02, 0, 0, 0, 0xe2, 0xd1, 0x5a, 0x9c, 7, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'}
	if got := b[6*17:]; !bytes.Equal(got, want) {
		t.Fatalf("frame of seq 7 %q is % x, want % x", "hi", got, want)
	}
}

func TestFileReplayContract(t *testing.T) {
	w := openFile(t, t.TempDir(), wal.FileOptions{})
	appendSync(t, w, []byte("x"))
	if err := w.Replay(func(uint64, []byte) error { return nil }); err == nil {
		t.Fatal("Replay after Append succeeded")
	}
}

func TestFileBackPressure(t *testing.T) {
	w := openFile(t, t.TempDir(), wal.FileOptions{MaxQueuedBytes: 4 << 10})

	// Hold the commit goroutine inside a callback so that nothing else
	// becomes durable.
	inDone, release := make(chan struct{}), make(chan struct{})
	if _, err := w.Append([]byte("hold"), func(error) { close(inDone); <-release }); err != nil {
		t.Fatal(err)
	}
	<-inDone
	if _, err := w.Append(make([]byte, 3<<10), nil); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error)
	go func() {
		_, err := w.Append(make([]byte, 3<<10), nil)
		appended <- err
	}()
	select {
	case err := <-appended:
		t.Fatalf("Append past MaxQueuedBytes returned at once (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
}

func TestFileCloseWakesBlockedAppend(t *testing.T) {
	w := openFile(t, t.TempDir(), wal.FileOptions{MaxQueuedBytes: 1 << 10})
	inDone, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	if _, err := w.Append([]byte("hold"), func(error) { close(inDone); <-release }); err != nil {
		t.Fatal(err)
	}
	<-inDone
	if _, err := w.Append(make([]byte, 1<<10), nil); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error)
	go func() {
		_, err := w.Append(make([]byte, 1<<10), nil)
		appended <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the Append block
	go w.Close()                      // blocks until release: the commit goroutine is held
	if err := <-appended; err != wal.ErrClosed {
		t.Fatalf("blocked Append returned %v after Close, want ErrClosed", err)
	}
}

func TestFileIgnoresForeignNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"README", "wal-1.log", "wal-00000000000000000000.log", "wal-0000000000000000000x.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := openFile(t, dir, wal.FileOptions{})
	if seqs, _ := replayAll(t, w); len(seqs) != 0 {
		t.Fatalf("replayed %v from foreign files", seqs)
	}
	if seq := appendSync(t, w, []byte("x")); seq != 1 {
		t.Fatalf("first seq %d, want 1", seq)
	}
}

// openFile opens the File WAL in dir and closes it when the test ends.
func openFile(t testing.TB, dir string, opts wal.FileOptions) *wal.File {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	w, err := wal.OpenFile(dir, opts)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// appendSync appends data, waits until it is durable and returns its seq.
func appendSync(t testing.TB, w wal.WAL, data []byte) uint64 {
	t.Helper()
	errc := make(chan error, 1)
	seq, err := w.Append(data, func(err error) { errc <- err })
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("entry %d failed: %v", seq, err)
	}
	return seq
}

func replayAll(t testing.TB, w wal.WAL) ([]uint64, [][]byte) {
	t.Helper()
	var seqs []uint64
	var data [][]byte
	if err := w.Replay(func(seq uint64, d []byte) error {
		seqs = append(seqs, seq)
		data = append(data, d)
		return nil
	}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return seqs, data
}

func segmentNames(t testing.TB, dir string) []string {
	t.Helper()
	return namesWithPrefix(t, dir, "wal-")
}

// namesWithPrefix lists the files in dir whose names start with prefix.
func namesWithPrefix(t testing.TB, dir, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}
