package e2e

import "syscall"

// childProcAttr makes the kernel kill weir if the test binary dies (a test
// timeout panic skips t.Cleanup), so no broker outlives its test run.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
