//go:build !linux

package main

import "syscall"

// childAttr is the default elsewhere: the children share the supervisor's
// process group, so a Ctrl-C at the terminal reaches them too.
func childAttr() *syscall.SysProcAttr { return nil }
