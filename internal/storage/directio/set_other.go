//go:build !linux

package directio

import (
	"errors"
	"os"
)

// Set is unsupported here: files are read and written through the cache.
func Set(f *os.File, on bool) error {
	return &os.PathError{Op: "direct I/O", Path: f.Name(), Err: errors.ErrUnsupported}
}
