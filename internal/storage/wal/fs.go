package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/weirdb/weir/internal/storage/directio"
)

// FS is the filesystem a File keeps its segments in. It is an interface so
// that crash tests can make any operation fail (see FaultFS).
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (Handle, error)
	Remove(name string) error
	// Rename renames a file within a directory (replacing newname, if it
	// exists); SyncDir of the directory makes it durable.
	Rename(oldname, newname string) error
	ReadDir(name string) ([]fs.DirEntry, error)
	MkdirAll(name string, perm fs.FileMode) error
	// SyncDir makes the creation and removal of names in directory name
	// durable.
	SyncDir(name string) error
}

// Handle is an open file of an FS. OSFS's handles are *os.File with the two
// methods below added.
type Handle interface {
	io.Reader
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// SyncData makes the file's data durable, and of its metadata only what
	// reading the data back needs, such as its size and block allocation
	// (fdatasync on Linux; Sync elsewhere). Skipping the rest (mtime) saves
	// a journal commit when the file did not grow.
	SyncData() error
	// Allocate makes the file at least size bytes long, reserving disk
	// blocks for it if the filesystem can (fallocate on Linux). The new
	// bytes read as zeros.
	Allocate(size int64) error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
}

// directHandle is a Handle that can switch its writes to direct I/O
// (O_DIRECT on Linux): they then bypass the page cache, and the buffer, the
// file offset and the length of each write must be multiples of
// directio.Align. OSFS's handles implement it; SetDirect fails where the
// filesystem does not support direct I/O.
type directHandle interface {
	SetDirect(on bool) error
}

const directAlign = directio.Align

// OSFS is the operating system's filesystem, the default of FileOptions.FS.
var OSFS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (Handle, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osHandle{f}, nil
}

type osHandle struct{ *os.File }

func (h osHandle) SyncData() error { return fdatasync(h.File) }

func (h osHandle) SetDirect(on bool) error { return directio.Set(h.File, on) }

func (h osHandle) Allocate(size int64) error {
	err := fallocate(h.File, size)
	if err == nil || !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	// Without fallocate, a sparse extension still keeps the size fixed, so
	// syncs need not record a new size; blocks are then allocated as the
	// data is written.
	info, err := h.Stat()
	if err != nil {
		return err
	}
	if info.Size() >= size {
		return nil
	}
	if err := h.Truncate(size); err != nil {
		return fmt.Errorf("extend to %d bytes: %w", size, err)
	}
	return nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
