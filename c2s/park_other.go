//go:build !linux

package c2s

import (
	"errors"
	"syscall"
)

// Without epoll, sessions never park: each keeps its reader goroutine.
const parkSupported = false

type poller struct{ parkList }

func newPoller() (*poller, error) { return nil, errors.New("c2s: parking is not supported here") }

func (p *poller) run()                                       {}
func (p *poller) stop()                                      {}
func (p *poller) watch(rc syscall.RawConn, tok uint64) error { return errors.ErrUnsupported }
func (p *poller) unwatch(rc syscall.RawConn)                 {}
