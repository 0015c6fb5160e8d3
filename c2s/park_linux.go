//go:build linux

package c2s

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

const parkSupported = true

// poller is one epoll instance and one goroutine blocked in EpollWait for
// all the parked connections of a Server. The event data is a token that is
// never reused, not the descriptor: descriptor numbers are.
type poller struct {
	epfd, evfd int // evfd (token 0) wakes the loop to stop
	parkList
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	p := &poller{epfd: epfd, evfd: evfd}
	p.init()
	return p, nil
}

func (p *poller) run() {
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.failed(err)
			return
		}
		for _, ev := range events[:n] {
			tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if tok == 0 {
				unix.Close(p.epfd)
				unix.Close(p.evfd)
				return
			}
			p.ready(tok)
		}
	}
}

// stop ends the loop; the Server has no parked connection any more.
func (p *poller) stop() {
	one := [8]byte{1}
	_, _ = unix.Write(p.evfd, one[:])
}

// watch registers the connection's socket for one event under tok.
func (p *poller) watch(rc syscall.RawConn, tok uint64) error {
	var cerr error
	// Inside Control the descriptor cannot be closed and reused.
	err := rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
		cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		if errors.Is(cerr, unix.EEXIST) {
			// Left over from a park that was undone while registering.
			cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		}
	})
	if err != nil {
		return err
	}
	return cerr
}

// unwatch removes the socket from the set, if it is still open.
func (p *poller) unwatch(rc syscall.RawConn) {
	_ = rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
}
