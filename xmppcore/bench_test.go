package xmppcore

import (
	"io"
	"strings"
	"testing"
)

// benchMessage is a typical chat message: a body, a chat state and an
// origin-id (XEP-0085, XEP-0359), about 300 bytes.
const benchMessage = `<message to='romeo@example.net/orchard' from='juliet@example.com/balcony' type='chat' id='ktx72v49'>` +
	`<body>Art thou not Romeo, and a Montague?</body>` +
	`<active xmlns='http://jabber.org/protocol/chatstates'/>` +
	`<origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546014'/>` +
	`</message>`

// endlessStream is a stream header followed by the same element forever,
// handed out in reads of at most chunk bytes as a connection would.
type endlessStream struct {
	head, body []byte
	off        int // in head, then in body
	inBody     bool
	chunk      int
}

func (s *endlessStream) Read(p []byte) (int, error) {
	if len(p) > s.chunk {
		p = p[:s.chunk]
	}
	n := 0
	for n < len(p) {
		src := s.head
		if s.inBody {
			src = s.body
		}
		c := copy(p[n:], src[s.off:])
		n += c
		s.off += c
		if s.off == len(src) {
			s.off, s.inBody = 0, true
		}
	}
	return n, nil
}

func BenchmarkReaderMessage(b *testing.B) {
	src := &endlessStream{head: []byte(clientHeader), body: []byte(benchMessage + "\n"), chunk: 1500}
	r := NewReader(src, Limits{})
	if _, err := r.ReadHeader(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchMessage) + 1))
	b.ReportAllocs()
	for b.Loop() {
		el, err := r.Next()
		if err != nil || el.Local != "message" {
			b.Fatal(el, err)
		}
	}
}

func benchElement(b *testing.B) *Element {
	el, err := parseOne(benchMessage, NSClient)
	if err != nil {
		b.Fatal(err)
	}
	return el
}

func BenchmarkAppendXML(b *testing.B) {
	el := benchElement(b)
	buf := el.AppendXML(nil, NSClient)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = el.AppendXML(buf[:0], NSClient)
	}
}

func BenchmarkClone(b *testing.B) {
	el := benchElement(b)
	b.ReportAllocs()
	for b.Loop() {
		if c := el.Clone(); c.Local != "message" {
			b.Fatal(c)
		}
	}
}

func BenchmarkShallowClone(b *testing.B) {
	el := benchElement(b)
	b.ReportAllocs()
	for b.Loop() {
		c := el.ShallowClone()
		c.SetAttr("to", "romeo@example.net/garden")
	}
}

// The benchmark message is what it claims to be.
func TestBenchMessage(t *testing.T) {
	if n := len(benchMessage); n < 280 || n > 320 {
		t.Errorf("benchmark message is %d bytes", n)
	}
	el, err := parseOne(benchMessage, NSClient)
	if err != nil {
		t.Fatal(err)
	}
	if el.ChildText("", "body") == "" || el.Child("http://jabber.org/protocol/chatstates", "active") == nil ||
		el.Child("urn:xmpp:sid:0", "origin-id") == nil {
		t.Errorf("parsed as %s", el)
	}
	src := &endlessStream{head: []byte("ab"), body: []byte("cde"), chunk: 4}
	got, _ := io.ReadAll(io.LimitReader(src, 10))
	if string(got) != "abcdecdecd" {
		t.Errorf("endlessStream gave %q", got)
	}
}

// BenchmarkReaderStampFrom is what c2s does with each stanza a client
// sends: parse it (clients send no 'from'), then set its 'from'.
func BenchmarkReaderStampFrom(b *testing.B) {
	msg := strings.Replace(benchMessage, " from='juliet@example.com/balcony'", "", 1)
	src := &endlessStream{head: []byte(clientHeader), body: []byte(msg + "\n"), chunk: 1500}
	r := NewReader(src, Limits{})
	if _, err := r.ReadHeader(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		el, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		el.SetAttr("from", "juliet@example.com/balcony")
	}
}
