//go:build !linux

package objstore

import "os"

// writeFile writes data to f; the caller's fsync pushes it to the disk.
// (On Linux it is written back chunk by chunk while writing; see
// writeback_linux.go.)
func writeFile(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// readRange reads n bytes of f at off.
func readRange(f *os.File, off, n int64) ([]byte, error) { return readBuffered(f, off, n) }
