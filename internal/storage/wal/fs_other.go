//go:build !linux

package wal

import (
	"errors"
	"os"
)

// fdatasync falls back to fsync where there is no portable fdatasync.
func fdatasync(f *os.File) error { return f.Sync() }

// fallocate is unsupported here; Allocate then extends the file sparsely.
func fallocate(f *os.File, size int64) error { return errors.ErrUnsupported }
