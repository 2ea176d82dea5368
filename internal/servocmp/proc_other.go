//go:build !linux

package servocmp

import "os/exec"

// dieWithParent: only Linux has a parent-death signal; elsewhere Stop is the only way chronyd ends.
func dieWithParent(cmd *exec.Cmd) {}
