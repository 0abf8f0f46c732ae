package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// ErrInjected is the error FaultFS injects unless told otherwise.
var ErrInjected = errors.New("wal: injected fault")

// Op is a kind of filesystem operation that FaultFS can fail.
type Op int

// The operations FaultFS can fail.
const (
	OpCreate   Op = iota + 1 // FS.OpenFile with os.O_CREATE
	OpRemove                 // FS.Remove
	OpSyncDir                // FS.SyncDir
	OpRead                   // Handle.Read
	OpWrite                  // Handle.Write and Handle.WriteAt
	OpSync                   // Handle.Sync and Handle.SyncData
	OpTruncate               // Handle.Truncate
	OpAllocate               // Handle.Allocate
	OpRename                 // FS.Rename
)

func (op Op) String() string {
	switch op {
	case OpCreate:
		return "create"
	case OpRemove:
		return "remove"
	case OpSyncDir:
		return "syncdir"
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpTruncate:
		return "truncate"
	case OpAllocate:
		return "allocate"
	case OpRename:
		return "rename"
	}
	return fmt.Sprintf("Op(%d)", int(op))
}

// FaultFS wraps an FS and fails chosen operations, for crash and error
// tests. Faults set by FailAfter are sticky, like a dying disk: once an
// operation starts failing it keeps failing until Heal. Typical use:
//
//	ffs := wal.NewFaultFS(nil)
//	w, _ := wal.OpenFile(dir, wal.FileOptions{FS: ffs})
//	ffs.FailAfter(wal.OpSync, 0, nil) // the next fsync and all later ones fail
//
// To simulate a crash, Close the File (it fails) and reopen dir with OSFS.
type FaultFS struct {
	inner FS

	mu    sync.Mutex // guards the following
	rules map[Op]*faultRule
	tear  int // bytes the next Write keeps before failing; -1 for none
}

type faultRule struct {
	after int // operations that still succeed
	err   error
}

// NewFaultFS returns a FaultFS over inner (OSFS if nil) that fails nothing
// yet.
func NewFaultFS(inner FS) *FaultFS {
	if inner == nil {
		inner = OSFS
	}
	return &FaultFS{inner: inner, rules: make(map[Op]*faultRule), tear: -1}
}

// FailAfter lets the next n operations of kind op succeed and fails every one
// after them with err (ErrInjected if nil).
func (f *FaultFS) FailAfter(op Op, n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[op] = &faultRule{after: n, err: err}
}

// TearNextWrite makes the next Write or WriteAt pass only its first keep
// bytes to the file and then return ErrInjected, as a crash mid-write leaves
// a file.
func (f *FaultFS) TearNextWrite(keep int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tear = keep
}

// Heal removes every fault.
func (f *FaultFS) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.rules)
	f.tear = -1
}

func (f *FaultFS) fault(op Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rules[op]
	if r == nil {
		return nil
	}
	if r.after > 0 {
		r.after--
		return nil
	}
	return r.err
}

// takeTear returns how many bytes the current write keeps, if it is torn.
func (f *FaultFS) takeTear() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keep := f.tear
	f.tear = -1
	return keep, keep >= 0
}

// OpenFile implements FS; with os.O_CREATE it is an OpCreate.
func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (Handle, error) {
	if flag&os.O_CREATE != 0 {
		if err := f.fault(OpCreate); err != nil {
			return nil, err
		}
	}
	h, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultHandle{Handle: h, fs: f}, nil
}

// Remove implements FS.
func (f *FaultFS) Remove(name string) error {
	if err := f.fault(OpRemove); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// Rename implements FS.
func (f *FaultFS) Rename(oldname, newname string) error {
	if err := f.fault(OpRename); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// SyncDir implements FS.
func (f *FaultFS) SyncDir(name string) error {
	if err := f.fault(OpSyncDir); err != nil {
		return err
	}
	return f.inner.SyncDir(name)
}

// ReadDir implements FS; it never fails on purpose.
func (f *FaultFS) ReadDir(name string) ([]fs.DirEntry, error) { return f.inner.ReadDir(name) }

// MkdirAll implements FS; it never fails on purpose.
func (f *FaultFS) MkdirAll(name string, perm fs.FileMode) error { return f.inner.MkdirAll(name, perm) }

type faultHandle struct {
	Handle
	fs *FaultFS
}

func (h *faultHandle) Read(p []byte) (int, error) {
	if err := h.fs.fault(OpRead); err != nil {
		return 0, err
	}
	return h.Handle.Read(p)
}

func (h *faultHandle) Write(p []byte) (int, error) {
	if keep, ok := h.fs.takeTear(); ok {
		n, _ := h.Handle.Write(p[:min(keep, len(p))])
		return n, ErrInjected
	}
	if err := h.fs.fault(OpWrite); err != nil {
		return 0, err
	}
	return h.Handle.Write(p)
}

func (h *faultHandle) WriteAt(p []byte, off int64) (int, error) {
	if keep, ok := h.fs.takeTear(); ok {
		n, _ := h.Handle.WriteAt(p[:min(keep, len(p))], off)
		return n, ErrInjected
	}
	if err := h.fs.fault(OpWrite); err != nil {
		return 0, err
	}
	return h.Handle.WriteAt(p, off)
}

func (h *faultHandle) Sync() error {
	if err := h.fs.fault(OpSync); err != nil {
		return err
	}
	return h.Handle.Sync()
}

func (h *faultHandle) SyncData() error {
	if err := h.fs.fault(OpSync); err != nil {
		return err
	}
	return h.Handle.SyncData()
}

func (h *faultHandle) Allocate(size int64) error {
	if err := h.fs.fault(OpAllocate); err != nil {
		return err
	}
	return h.Handle.Allocate(size)
}

func (h *faultHandle) Truncate(size int64) error {
	if err := h.fs.fault(OpTruncate); err != nil {
		return err
	}
	return h.Handle.Truncate(size)
}
