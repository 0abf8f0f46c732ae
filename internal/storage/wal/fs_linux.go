package wal

import (
	"errors"
	"os"
	"syscall"
)

func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				break
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// fallocate reserves blocks for bytes 0..size of f and extends its size to
// at least size. It returns an error wrapping errors.ErrUnsupported if the
// filesystem cannot.
func fallocate(f *os.File, size int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fallocate(int(fd), 0, 0, size)
			if serr != syscall.EINTR {
				break
			}
		}
	}); err != nil {
		return err
	}
	switch {
	case serr == nil:
		return nil
	case serr == syscall.EOPNOTSUPP || serr == syscall.ENOSYS:
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: errors.ErrUnsupported}
	}
	return &os.PathError{Op: "fallocate", Path: f.Name(), Err: serr}
}
