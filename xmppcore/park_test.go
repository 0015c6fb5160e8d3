package xmppcore

import (
	"errors"
	"io"
	"testing"

	"mellium.im/xmpp/stream"
)

// scripted is a source that returns its steps one read at a time; the
// step "" is a read timeout.
type scripted struct{ steps []string }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := s.steps[0]
	if st == "" {
		s.steps = s.steps[1:]
		return 0, timeoutErr{}
	}
	n := copy(p, st)
	if n == len(st) {
		s.steps = s.steps[1:]
	} else {
		s.steps[0] = st[n:]
	}
	return n, nil
}

const parkHeader = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`

// parkReader reads steps; at each timeout it parks when the ByteReader is
// at a boundary (counting the parks) and reads on otherwise.
func parkReader(t *testing.T, steps ...string) (*Reader, *ByteReader, *int) {
	t.Helper()
	br := NewByteReader(&scripted{steps: append([]string{parkHeader}, steps...)}, 0)
	parks := new(int)
	br.OnTimeout = func() error {
		if br.AtBoundary() {
			*parks++
			return ErrPark
		}
		return nil
	}
	rd := NewReader(br, Limits{})
	if _, err := rd.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	return rd, br, parks
}

// nextParked is Next, going on after each park the way a resumed reader
// does, with the buffer given back meanwhile.
func nextParked(t *testing.T, rd *Reader, br *ByteReader) (*Element, error) {
	t.Helper()
	for {
		el, err := rd.Next()
		if !errors.Is(err, ErrPark) {
			return el, err
		}
		if !br.Release() {
			t.Fatal("parked with data buffered")
		}
		if br.buf != nil || rd.dec != nil {
			t.Fatal("a parked reader keeps its buffer or decoder")
		}
	}
}

func TestParkBetweenStanzas(t *testing.T) {
	rd, br, parks := parkReader(t, "", `<message to='a@b'><body>hi</body></message>`, "", "", `<iq type='get' id='1'/>`, " ", "\n", "", "\t", "", `<presence/>`)
	for _, want := range []string{Message, IQ, Presence} {
		el, err := nextParked(t, rd, br)
		if err != nil || el.Local != want {
			t.Fatalf("got %v, %v; want %s", el, err, want)
		}
	}
	if *parks != 5 {
		t.Fatalf("%d parks, want 5", *parks)
	}
	if _, err := nextParked(t, rd, br); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("at the end: %v", err)
	}
}

func TestNoParkInsideStanza(t *testing.T) {
	rd, br, parks := parkReader(t, "<mess", "", "age><bo", "", "dy>hi</body", "", "></message>", " <", "", "iq type='get' id='1'/>")
	for _, want := range []string{Message, IQ} {
		el, err := nextParked(t, rd, br)
		if err != nil || el.Local != want {
			t.Fatalf("got %v, %v; want %s", el, err, want)
		}
	}
	if *parks != 0 {
		t.Fatalf("%d parks inside stanzas", *parks)
	}
}

func TestParkThenTextIsNotWellFormed(t *testing.T) {
	for _, steps := range [][]string{
		{" ", "", "hello<message/>"},
		{"", " x", "", "<message/>"},
	} {
		rd, br, _ := parkReader(t, steps...)
		_, err := nextParked(t, rd, br)
		if se, ok := AsStreamError(err); !ok || se.Err != stream.NotWellFormed.Err {
			t.Fatalf("%q: %v, want not-well-formed", steps, err)
		}
	}
}

func TestBoundaryAcrossFills(t *testing.T) {
	// Keepalives in separate reads, more than the buffer holds in all.
	steps := []string{`<message/>`}
	for range 5000 {
		steps = append(steps, " ")
	}
	rd, br, parks := parkReader(t, append(steps, "", "<iq type='get' id='1'/>")...)
	for range 2 {
		if _, err := nextParked(t, rd, br); err != nil {
			t.Fatal(err)
		}
	}
	if *parks != 1 {
		t.Fatalf("%d parks, want 1", *parks)
	}
}
