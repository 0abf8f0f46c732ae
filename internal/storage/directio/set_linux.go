package directio

import (
	"os"
	"syscall"
)

// Set turns direct I/O on or off for f's later reads and writes. A
// filesystem without direct I/O (tmpfs) refuses it with an error wrapping
// syscall.EINVAL.
func Set(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var flags int
		flags, serr = fcntl(fd, syscall.F_GETFL, 0)
		if serr != nil {
			return
		}
		if on {
			flags |= syscall.O_DIRECT
		} else {
			flags &^= syscall.O_DIRECT
		}
		_, serr = fcntl(fd, syscall.F_SETFL, flags)
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fcntl O_DIRECT", Path: f.Name(), Err: serr}
	}
	return nil
}

func fcntl(fd uintptr, cmd, arg int) (int, error) {
	for {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, uintptr(cmd), uintptr(arg))
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(r), nil
	}
}
