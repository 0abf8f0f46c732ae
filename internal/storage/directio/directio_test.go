package directio_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirdb/weir/internal/storage/directio"
)

func TestBuffer(t *testing.T) {
	for _, n := range []int{0, 1, directio.Align - 1, directio.Align, 3*directio.Align + 5, 1 << 20} {
		b := directio.Buffer(n)
		if len(b) != n || cap(b) != n || !directio.Aligned(b) {
			t.Fatalf("Buffer(%d): len %d cap %d aligned %v", n, len(b), cap(b), directio.Aligned(b))
		}
	}
	if b := directio.Buffer(2 * directio.Align); directio.Aligned(b[1:]) {
		t.Fatal("Aligned(b[1:]) of an aligned b")
	}
}

// Aligned writes and reads through a file switched to direct I/O come back
// byte for byte, as do buffered ones after switching back.
func TestSet(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := directio.Set(f, true); err != nil {
		t.Skipf("no direct I/O here: %v", err)
	}
	data := directio.Buffer(8 * directio.Align)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, err := f.WriteAt(data, directio.Align); err != nil {
		t.Fatal(err)
	}
	got := directio.Buffer(len(data))
	if _, err := f.ReadAt(got, directio.Align); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("direct read back: err %v, equal %v", err, bytes.Equal(got, data))
	}
	if err := directio.Set(f, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("xyz"), 1); err != nil { // unaligned: buffered again
		t.Fatal(err)
	}
}
