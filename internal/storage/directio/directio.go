// Package directio switches open files to direct I/O (O_DIRECT on Linux),
// which bypasses the page cache, and allocates the aligned buffers direct
// I/O needs. The WAL and the filesystem object store use it; why each does
// is said where they do.
package directio

import "unsafe"

// Align is the alignment direct I/O asks here of a buffer's address, a file
// offset and a length: the logical block size of the disks Weir runs on is
// at most 4 KiB.
const Align = 4096

// Buffer returns a slice of length and capacity n whose first byte is
// aligned to Align.
func Buffer(n int) []byte {
	raw := make([]byte, n+Align)
	pad := (Align - int(uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%Align)) % Align
	return raw[pad : pad+n : pad+n]
}

// Aligned reports whether b's first byte (of its backing array, if b is
// empty) is aligned to Align.
func Aligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%Align == 0
}
