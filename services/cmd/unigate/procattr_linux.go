package main

import "syscall"

// childAttr puts a child of `unigate cluster` in its own process group, so
// a Ctrl-C at the terminal reaches only the supervisor (which stops the
// children in order), and has the kernel send the child SIGTERM should
// the supervisor die without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
