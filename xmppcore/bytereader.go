package xmppcore

import (
	"errors"
	"io"
	"net"
)

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

	// OnTimeout, when set, is called when a read from the source times out.
	// Returning nil retries the read (after the callback has set a new
	// deadline, sent a ping, ...); returning an error ends the stream with it.
	OnTimeout func() error
}

// NewByteReader returns a ByteReader over src with a buffer of size bytes
// (4096 when size is not positive).
func NewByteReader(src io.Reader, size int) *ByteReader {
	if size <= 0 {
		size = 4096
	}
	return &ByteReader{src: src, buf: make([]byte, size), budget: -1}
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
			if cerr := b.OnTimeout(); cerr == nil {
				continue
			} else {
				err = cerr
			}
		}
		b.err = err
		return err
	}
}
