package xmppcore

import (
	"errors"
	"io"
	"net"
)

// ErrPark is what an OnTimeout callback returns to stop reading for now
// without ending the stream: the read returns it, the ByteReader does not
// keep it, and the Reader's next call goes on where this one stopped. The
// caller parks only where ByteReader.AtBoundary allows it.
var ErrPark = errors.New("xmppcore: reader parked")

// defaultBufSize is the buffer size of a ByteReader when none is given.
const defaultBufSize = 4096

// ByteReader is the buffered reader between a connection and the XML
// decoder. It enforces the per-element byte budget and lets the owner of the
// connection handle read timeouts without killing the decoder: encoding/xml
// remembers the first error it sees forever, so a deadline used for
// keepalives must never reach it.
type ByteReader struct {
	src    io.Reader
	buf    []byte
	r, w   int
	budget int
	err    error
	total  int64
	size   int   // of buf, which is nil while released
	mark   int64 // consumed position at the end of the last top-level element

	// OnTimeout, when set, is called when a read from the source times out.
	// Returning nil retries the read (after the callback has set a new
	// deadline, sent a ping, ...); returning an error ends the stream with it.
	OnTimeout func() error
}

// NewByteReader returns a ByteReader over src with a buffer of size bytes
// (4096 when size is not positive).
func NewByteReader(src io.Reader, size int) *ByteReader {
	if size <= 0 {
		size = defaultBufSize
	}
	return &ByteReader{src: src, size: size, budget: -1} // the buffer comes with the first read
}

// Release drops the buffer when nothing is buffered in it; the next read
// allocates one again. It reports whether the buffer was dropped.
//
// The buffer is left to the garbage collector rather than put in a
// sync.Pool: a pool keeps what it is given for two GC cycles, and a server
// whose sessions are mostly idle runs few, so a pool pinned the buffer of
// nearly every idle connection (4 KiB each), which is what releasing it is
// for.
func (b *ByteReader) Release() bool {
	if b.buf == nil || b.r != b.w {
		return false
	}
	b.buf, b.r, b.w = nil, 0, 0
	return true
}

// consumed is the number of bytes handed out so far.
func (b *ByteReader) consumed() int64 { return b.total - int64(b.w-b.r) }

// SetBoundary records that everything consumed so far is a complete
// top-level element (or the stream header).
func (b *ByteReader) SetBoundary() { b.mark = b.consumed() }

// AtBoundary reports whether all that was consumed since SetBoundary is XML
// white space: a parser stopped there holds nothing it would need again. It
// errs on the side of false when those bytes are no longer in the buffer.
func (b *ByteReader) AtBoundary() bool {
	k := b.consumed() - b.mark
	if k < 0 || k > int64(b.r) {
		return false
	}
	return isSpace(b.buf[b.r-int(k) : b.r])
}

// ReadByte implements io.ByteReader.
func (b *ByteReader) ReadByte() (byte, error) {
	if b.r == b.w {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	if b.budget == 0 {
		b.err = errTooLarge
		return 0, b.err
	}
	if b.budget > 0 {
		b.budget--
	}
	c := b.buf[b.r]
	b.r++
	return c, nil
}

// Read implements io.Reader for whoever needs it; the decoder uses ReadByte.
func (b *ByteReader) Read(p []byte) (int, error) {
	if b.r == b.w {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	if b.budget >= 0 {
		if n > b.budget {
			n = b.budget
		}
		if n == 0 && len(p) > 0 {
			b.err = errTooLarge
			return 0, b.err
		}
		b.budget -= n
	}
	b.r += n
	return n, nil
}

// Buffered returns how many bytes were read from the source but not yet
// consumed. It must be zero before the connection is replaced by TLS:
// anything else is a client pipelining past <starttls/>.
func (b *ByteReader) Buffered() int { return b.w - b.r }

// Total returns the bytes read from the source so far.
func (b *ByteReader) Total() int64 { return b.total }

func (b *ByteReader) fill() error {
	if b.err != nil {
		return b.err
	}
	if b.AtBoundary() {
		// White space since the last element is about to leave the
		// buffer: what AtBoundary must know about it is that it was space.
		b.mark = b.consumed()
	}
	if b.buf == nil {
		b.buf = make([]byte, b.size)
		b.r, b.w = 0, 0
	}
	for {
		n, err := b.src.Read(b.buf)
		if n > 0 {
			b.r, b.w = 0, n
			b.total += int64(n)
			return nil
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && b.OnTimeout != nil {
			cerr := b.OnTimeout()
			if cerr == nil {
				continue
			}
			if cerr == ErrPark {
				return cerr // not sticky: reading goes on after the park
			}
			err = cerr
		}
		b.err = err
		return err
	}
}
