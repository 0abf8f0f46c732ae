package wal

import (
	"io"
	"io/fs"
	"os"
)

// FS is the filesystem a File keeps its segments in. It is an interface so
// that crash tests can make any operation fail (see FaultFS).
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (Handle, error)
	Remove(name string) error
	ReadDir(name string) ([]fs.DirEntry, error)
	MkdirAll(name string, perm fs.FileMode) error
	// SyncDir makes the creation and removal of names in directory name
	// durable.
	SyncDir(name string) error
}

// Handle is an open file of an FS. *os.File is one.
type Handle interface {
	io.Reader
	io.Writer
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
}

// OSFS is the operating system's filesystem, the default of FileOptions.FS.
var OSFS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (Handle, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		// Not f: a nil *os.File in a Handle is not a nil Handle.
		return nil, err
	}
	return f, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
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
