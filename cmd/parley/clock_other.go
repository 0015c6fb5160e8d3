//go:build !linux

package main

import (
	"errors"
	"syscall"
)

// Only systemd (Linux) reads the monotonic reload timestamp.
func clockGettimeMonotonic(*syscall.Timespec) error { return errors.New("not on Linux") }
