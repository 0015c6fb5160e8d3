package xmppcore

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"mellium.im/xmpp/stream"
)

// Limits bound what one peer can make the parser hold.
type Limits struct {
	MaxStanzaSize int // bytes of one top-level element (and of a run of white space between elements)
	MaxDepth      int // nesting of elements inside a top-level element
	MaxHeaderSize int // bytes up to and including the stream header
}

// DefaultLimits are used for any zero field of the Limits given to NewReader.
var DefaultLimits = Limits{MaxStanzaSize: 256 << 10, MaxDepth: 32, MaxHeaderSize: 4096}

// maxAttrs bounds the attributes of one element, so duplicate detection and
// lookups stay cheap whatever the stanza size. Namespace declarations are
// counted apart, with room for the ones the serializer adds (one per
// namespaced attribute, and a default namespace), so that whatever the
// Reader accepts still passes a Reader with the same limits once written.
const maxAttrs = 64

// errTooLarge is the byte budget running out; it surfaces as policy-violation.
var errTooLarge = errors.New("xmppcore: element exceeds the size limit")

// Header is a parsed stream header.
type Header struct {
	Name      xml.Name // resolved name of the root element
	ContentNS string   // the default namespace declared on it
	To, From  string
	ID        string
	Version   string
	Lang      string
}

// Reader parses an XMPP stream from an untrusted peer: first the header,
// then one top-level element at a time.
//
// Every protocol violation is reported as a mellium stream.Error (wrapped
// with detail for logs), which the caller sends before closing; I/O errors
// are returned as they are.
type Reader struct {
	in      *ByteReader
	dec     *xml.Decoder
	lim     Limits
	ns      []binding  // namespace bindings in scope, innermost last
	open    []openElem // elements being parsed
	root    xml.Name   // raw (prefix, local) of the stream root
	content string     // the stream's content namespace, stored as ""
	header  bool
	text    []byte // character data not yet added to the innermost open element
	out     int    // bytes the top-level element being parsed serializes to
}

type binding struct{ prefix, uri string }

type openElem struct {
	raw  xml.Name // as written, for matching the end tag
	mark int      // len(ns) before this element's declarations
	el   *Element
}

// NewReader returns a Reader over in. in is usually the ByteReader wrapping
// the connection, so that the caller can handle read deadlines; any other
// io.Reader is wrapped.
func NewReader(in io.Reader, lim Limits) *Reader {
	br, ok := in.(*ByteReader)
	if !ok {
		br = NewByteReader(in, 0)
	}
	if lim.MaxStanzaSize <= 0 {
		lim.MaxStanzaSize = DefaultLimits.MaxStanzaSize
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if lim.MaxHeaderSize <= 0 {
		lim.MaxHeaderSize = DefaultLimits.MaxHeaderSize
	}
	return &Reader{in: br, dec: newDecoder(br), lim: lim}
}

func newDecoder(br *ByteReader) *xml.Decoder {
	d := xml.NewDecoder(br)
	d.Strict = true
	// Only UTF-8 is allowed (RFC 6120 §11.6): refuse any other declared
	// encoding with a typed error rather than the decoder's message.
	d.CharsetReader = refuseCharset
	return d
}

func refuseCharset(label string, _ io.Reader) (io.Reader, error) {
	return nil, fmt.Errorf("%w: encoding %q", stream.UnsupportedEncoding, label)
}

// ReadHeader reads up to and including the stream header.
func (r *Reader) ReadHeader() (Header, error) {
	if r.header {
		return Header{}, errors.New("xmppcore: stream header already read")
	}
	r.in.budget = r.lim.MaxHeaderSize
	for {
		tok, err := r.dec.RawToken()
		if err != nil {
			return Header{}, r.readError(err)
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" {
				return Header{}, fmt.Errorf("%w: processing instruction", stream.RestrictedXML)
			}
		case xml.CharData:
			if !isSpace(t) {
				return Header{}, fmt.Errorf("%w: text before the stream header", stream.NotWellFormed)
			}
		case xml.StartElement:
			return r.startStream(t)
		case xml.EndElement:
			return Header{}, fmt.Errorf("%w: end tag before the stream header", stream.NotWellFormed)
		default:
			return Header{}, fmt.Errorf("%w: %T before the stream header", stream.RestrictedXML, tok)
		}
	}
}

func (r *Reader) startStream(t xml.StartElement) (Header, error) {
	var h Header
	for _, a := range t.Attr {
		if prefix, ok := declPrefix(a); ok {
			if err := r.declare(prefix, a.Value, 0); err != nil {
				return h, err
			}
		}
	}
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "xml" && a.Name.Local == "lang":
			h.Lang = a.Value
		case a.Name.Space != "":
		case a.Name.Local == "to":
			h.To = a.Value
		case a.Name.Local == "from":
			h.From = a.Value
		case a.Name.Local == "id":
			h.ID = a.Value
		case a.Name.Local == "version":
			h.Version = a.Value
		}
	}
	space, ok := r.lookup(t.Name.Space)
	if !ok {
		return h, fmt.Errorf("%w: prefix %q is not declared", stream.BadNamespacePrefix, t.Name.Space)
	}
	h.Name = xml.Name{Space: space, Local: t.Name.Local}
	h.ContentNS, _ = r.lookup("")
	r.content = h.ContentNS
	r.root = t.Name
	r.header = true
	r.in.SetBoundary()
	return h, nil
}

// Next returns the next top-level element. It returns io.EOF when the peer
// closed the stream with its end tag.
func (r *Reader) Next() (*Element, error) {
	if !r.header {
		return nil, errors.New("xmppcore: Next before ReadHeader")
	}
	r.in.budget = r.lim.MaxStanzaSize
	if r.dec == nil {
		// After a park: encoding/xml keeps the error it saw forever, so
		// parsing goes on with a new decoder. It stopped between
		// top-level elements, where the old one held nothing of use: a
		// self-closed element's end was returned, and the decoder reads
		// ahead only inside a tag or after text, which was white space.
		r.dec = newDecoder(r.in)
	}
	for {
		tok, err := r.dec.RawToken()
		if err != nil {
			if err == ErrPark && r.in.err == nil {
				if len(r.open) > 0 || !r.in.AtBoundary() {
					return nil, errors.New("xmppcore: parked inside an element")
				}
				// Nothing is open: a parked session keeps no parse
				// buffers (they grow again on the next stanza).
				r.dec, r.open, r.text = nil, nil, nil
				return nil, ErrPark
			}
			return nil, r.readError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := r.flushText(); err != nil {
				return nil, err
			}
			if err := r.start(t); err != nil {
				return nil, err
			}
		case xml.EndElement:
			if len(r.open) == 0 {
				if t.Name != r.root {
					return nil, fmt.Errorf("%w: unexpected end tag %s", stream.NotWellFormed, rawName(t.Name))
				}
				return nil, io.EOF
			}
			top := r.open[len(r.open)-1]
			if t.Name != top.raw {
				return nil, fmt.Errorf("%w: end tag %s does not match %s", stream.NotWellFormed, rawName(t.Name), rawName(top.raw))
			}
			if err := r.flushText(); err != nil {
				return nil, err
			}
			if err := r.grow(endTagLen(top.el)); err != nil {
				return nil, err
			}
			r.open[len(r.open)-1] = openElem{} // do not keep the tree alive
			r.open = r.open[:len(r.open)-1]
			r.ns = r.ns[:top.mark]
			if len(r.open) == 0 {
				if cap(r.text) > 4096 {
					r.text = nil // one large stanza does not pin a large buffer
				}
				r.in.SetBoundary()
				return top.el, nil
			}
		case xml.CharData:
			if len(r.open) == 0 {
				if !isSpace(t) {
					return nil, fmt.Errorf("%w: text between stanzas", stream.NotWellFormed)
				}
				// White space keepalives do not count against the next stanza.
				r.in.budget = r.lim.MaxStanzaSize
				continue
			}
			// Text and CDATA sections next to each other become one node,
			// added when the next tag comes: concatenating each piece to a
			// string would cost quadratic time in the number of pieces.
			r.text = append(r.text, t...)
		default:
			return nil, fmt.Errorf("%w: %T", stream.RestrictedXML, tok)
		}
	}
}

// flushText adds the pending character data to the innermost open element.
func (r *Reader) flushText() error {
	if len(r.text) == 0 || len(r.open) == 0 {
		return nil
	}
	el := r.open[len(r.open)-1].el
	text := string(r.text)
	el.Nodes = append(el.Nodes, Node{Text: text})
	r.text = r.text[:0]
	return r.grow(escapedLen(text, false))
}

func (r *Reader) start(t xml.StartElement) error {
	if len(r.open) >= r.lim.MaxDepth {
		return fmt.Errorf("%w: nesting deeper than %d", stream.PolicyViolation, r.lim.MaxDepth)
	}
	ndecls := 0
	for _, a := range t.Attr {
		if _, ok := declPrefix(a); ok {
			ndecls++
		}
	}
	if len(t.Attr)-ndecls > maxAttrs {
		return fmt.Errorf("%w: more than %d attributes", stream.PolicyViolation, maxAttrs)
	}
	if ndecls > maxAttrs+1 {
		return fmt.Errorf("%w: more than %d namespace declarations", stream.PolicyViolation, maxAttrs+1)
	}
	mark := len(r.ns)
	nattrs := 0
	for _, a := range t.Attr {
		if !ncName(a.Name) {
			return fmt.Errorf("%w: attribute name %s", stream.NotWellFormed, rawName(a.Name))
		}
		if prefix, ok := declPrefix(a); ok {
			if err := r.declare(prefix, a.Value, mark); err != nil {
				return err
			}
			continue
		}
		nattrs++
	}
	if !ncName(t.Name) {
		return fmt.Errorf("%w: element name %s", stream.NotWellFormed, rawName(t.Name))
	}
	if t.Name.Space == "xmlns" || t.Name.Space == "xml" {
		return fmt.Errorf("%w: element with the %s prefix", stream.BadNamespacePrefix, t.Name.Space)
	}
	space, ok := r.lookup(t.Name.Space)
	if !ok {
		return fmt.Errorf("%w: prefix %q is not declared", stream.BadNamespacePrefix, t.Name.Space)
	}
	if space == r.content {
		space = ""
	}
	el := &Element{Space: space, Local: t.Name.Local}
	if nattrs > 0 {
		// A top-level element (a stanza) gets room for one more: the
		// server stamps 'from' on every stanza from a client, which would
		// otherwise copy the attributes into a new array.
		room := nattrs
		if len(r.open) == 0 {
			room++
		}
		el.Attrs = make([]Attr, 0, room)
		for _, a := range t.Attr {
			if _, ok := declPrefix(a); ok {
				continue
			}
			as := ""
			if a.Name.Space != "" {
				if as, ok = r.lookup(a.Name.Space); !ok {
					return fmt.Errorf("%w: attribute prefix %q is not declared", stream.BadNamespacePrefix, a.Name.Space)
				}
			}
			for _, b := range el.Attrs {
				if b.Local == a.Name.Local && b.Space == as {
					return fmt.Errorf("%w: duplicate attribute %s", stream.NotWellFormed, a.Name.Local)
				}
			}
			el.Attrs = append(el.Attrs, Attr{Space: as, Local: a.Name.Local, Value: a.Value})
		}
	}
	parentSpace := ""
	if n := len(r.open); n > 0 {
		parent := r.open[n-1].el
		parent.Nodes = append(parent.Nodes, Node{Elem: el})
		parentSpace = parent.Space
	} else {
		r.out = 0
	}
	r.open = append(r.open, openElem{raw: t.Name, mark: mark, el: el})
	return r.grow(startTagLen(el, parentSpace))
}

// grow adds n bytes to the serialized size of the element being parsed.
//
// The serializer writes namespace declarations on every element that needs
// them, where the peer may have declared a prefix once: <u:z/> inside a
// parent in another namespace costs 6 bytes to read and the whole namespace
// name to write, for every recipient. Bounding the written size by the
// stanza limit keeps that amplification out, and means whatever the Reader
// accepts is accepted by a Reader with the same limits once written.
func (r *Reader) grow(n int) error {
	r.out += n
	if r.out > r.lim.MaxStanzaSize {
		return fmt.Errorf("%w: element serializes to more than %d bytes", stream.PolicyViolation, r.lim.MaxStanzaSize)
	}
	return nil
}

// startTagLen is the length of el's start tag as AppendXML writes it, up to
// but not including the closing ">" or "/>", inside a parent in parentSpace,
// for a content namespace as long as jabber:client and jabber:server.
func startTagLen(el *Element, parentSpace string) int {
	n := 1 + len(el.Local)
	if el.Space != parentSpace {
		ns := len(NSClient)
		if el.Space != "" {
			ns = escapedLen(el.Space, true)
		}
		n += len(` xmlns=""`) + ns
	}
	prefixes := 0
	for _, a := range el.Attrs {
		n += len(` =""`) + len(a.Local) + escapedLen(a.Value, true)
		switch a.Space {
		case "":
		case NSXML:
			n += len("xml:")
		default:
			p := len("a") + len(strconv.Itoa(prefixes))
			prefixes++
			n += len(`xmlns:="" :`) + 2*p + escapedLen(a.Space, true)
		}
	}
	return n
}

// endTagLen is the length of the rest of el once it is complete: "/>" or
// ">" and the end tag, the content being counted as it is added.
func endTagLen(el *Element) int {
	if len(el.Nodes) == 0 {
		return len("/>")
	}
	return len("></>") + len(el.Local)
}

func (r *Reader) lookup(prefix string) (string, bool) {
	switch prefix {
	case "xml":
		return NSXML, true
	}
	for i := len(r.ns) - 1; i >= 0; i-- {
		if r.ns[i].prefix == prefix {
			return r.ns[i].uri, true
		}
	}
	return "", prefix == ""
}

// nsXMLNS is the namespace of xmlns attributes, which nothing may be bound
// to.
const nsXMLNS = "http://www.w3.org/2000/xmlns/"

// declPrefix reports whether a is a namespace declaration, and of which
// prefix ("" for the default namespace).
func declPrefix(a xml.Attr) (string, bool) {
	switch {
	case a.Name.Space == "" && a.Name.Local == "xmlns":
		return "", true
	case a.Name.Space == "xmlns":
		return a.Name.Local, true
	}
	return "", false
}

// declare adds a namespace declaration made on the element whose bindings
// start at r.ns[mark], after checking it against Namespaces in XML 1.0.
func (r *Reader) declare(prefix, uri string, mark int) error {
	switch {
	case prefix == "xml" || prefix == "xmlns":
		return fmt.Errorf("%w: redeclared reserved prefix %s", stream.BadNamespacePrefix, prefix)
	case prefix != "" && uri == "":
		return fmt.Errorf("%w: prefix %s bound to the empty namespace", stream.BadNamespacePrefix, prefix)
	case uri == NSXML || uri == nsXMLNS:
		return fmt.Errorf("%w: reserved namespace %s bound", stream.BadNamespacePrefix, uri)
	}
	for _, b := range r.ns[mark:] {
		if b.prefix == prefix {
			return fmt.Errorf("%w: duplicate declaration of prefix %q", stream.NotWellFormed, prefix)
		}
	}
	r.ns = append(r.ns, binding{prefix, uri})
	return nil
}

// ncName reports whether n, as the decoder split it, is a qualified name
// of Namespaces in XML, which every namespace-aware peer accepts:
// encoding/xml leaves a colon at either end of a name in the local part, and
// checks "p:0" as one name, so that the local part may start with a
// character that cannot start a name.
func ncName(n xml.Name) bool {
	if strings.Contains(n.Local, ":") {
		return false
	}
	if n.Space == "" || n.Local == "" {
		return true // the decoder checked the whole name
	}
	switch c := n.Local[0]; {
	case c >= utf8.RuneSelf:
		// Rare: let encoding/xml judge with its own tables.
		_, err := xml.NewDecoder(strings.NewReader("<" + n.Local + "/>")).RawToken()
		return err == nil
	default:
		return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
}

// readError maps a decoder error to what the caller must do: an I/O error
// from below passes through, a size overrun is policy-violation, and
// anything the XML decoder refused is not-well-formed.
func (r *Reader) readError(err error) error {
	if r.in.err != nil {
		if errors.Is(r.in.err, errTooLarge) {
			return fmt.Errorf("%w: %v", stream.PolicyViolation, r.in.err)
		}
		if r.in.err == io.EOF {
			// The connection ended without the stream's end tag: not the
			// io.EOF that Next returns for a stream closed properly.
			return io.ErrUnexpectedEOF
		}
		return r.in.err
	}
	if _, ok := AsStreamError(err); ok {
		return err // from the CharsetReader
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s", stream.NotWellFormed, se.Msg)
	}
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %v", stream.NotWellFormed, err)
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func rawName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// Parse reads back one element serialized in the client namespace (as
// AppendXML(b, NSClient) wrote it), for data kept in storage.
func Parse(b []byte) (*Element, error) {
	const open, end = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`, `</stream:stream>`
	in := bytes.NewReader(append(append([]byte(open), b...), end...))
	rd := NewReader(in, Limits{MaxStanzaSize: len(b) + 1024, MaxDepth: 1 << 10})
	if _, err := rd.ReadHeader(); err != nil {
		return nil, err
	}
	return rd.Next()
}
