package main

import "golang.org/x/sys/unix"
import "syscall"

func clockGettimeMonotonic(ts *syscall.Timespec) error {
	var t unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &t); err != nil {
		return err
	}
	ts.Sec, ts.Nsec = t.Sec, t.Nsec
	return nil
}
