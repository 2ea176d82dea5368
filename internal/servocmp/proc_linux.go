package servocmp

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel send chronyd SIGTERM if this process dies first (killed, crashed), so
// that no chronyd outlives a benchmark on a shared machine.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
