//go:build !linux

package main

import "errors"

const sockoptsSupported = false

func setSndBuf(uintptr, int) error { return errors.ErrUnsupported }

func setNotSentLowat(uintptr, int) error { return errors.ErrUnsupported }
