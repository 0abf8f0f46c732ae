package objstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
)

// Objects of every size around the block and chunk boundaries, from
// aligned and unaligned buffers, read back whole and in ranges around the
// direct-read threshold, come back byte for byte, and the written file
// has exactly the object's length (no block padding).
func TestFSDirectIO(t *testing.T) {
	ctx := context.Background()
	s := newFS(t)
	sizes := []int{0, 1, directAlign - 1, directAlign, directAlign + 1, directChunk - 1, directChunk,
		directChunk + directAlign + 3, 3*directChunk + 5}
	for _, size := range sizes {
		for _, shift := range []int{0, 1} {
			raw := make([]byte, size+shift)
			for i := range raw {
				raw[i] = byte(i*131 + size)
			}
			data := raw[shift:]
			key := fmt.Sprintf("d/%d-%d", size, shift)
			if err := s.Put(ctx, key, data); err != nil {
				t.Fatalf("Put %s: %v", key, err)
			}
			st, err := os.Stat(s.path(key))
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != int64(size) {
				t.Fatalf("%s: file is %d bytes, want %d", key, st.Size(), size)
			}
			got, err := s.Get(ctx, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get %s: %d bytes, err %v; want the %d bytes put", key, len(got), err, size)
			}
			ranges := [][2]int{{0, size}, {1, size - 1}, {size / 3, size / 2}, {directAlign - 7, directReadMin + 9}}
			for _, r := range ranges {
				off, n := r[0], r[1]
				if off < 0 || n < 0 || off+n > size {
					continue
				}
				got, err := s.GetRange(ctx, key, int64(off), int64(n))
				if err != nil || !bytes.Equal(got, data[off:off+n]) {
					t.Fatalf("GetRange %s [%d, +%d): err %v or wrong bytes", key, off, n, err)
				}
				if cap(got) != len(got) {
					t.Fatalf("GetRange %s: cap %d > len %d lets an append overwrite the buffer's rest", key, cap(got), len(got))
				}
			}
		}
	}
	if noDirectIO.Load() {
		t.Log("this filesystem refused O_DIRECT: the buffered fallback was tested")
	}
}
