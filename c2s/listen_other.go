//go:build !unix

package c2s

import "errors"

// Elsewhere the receive buffer is left to the system (c2s.receive_buffer
// is ignored).
func setReceiveBuffer(uintptr, int) error { return nil }

func getReceiveBuffer(uintptr) (int, error) { return 0, errors.ErrUnsupported }
