package xmppcore

import (
	"strconv"
	"sync"
)

// AppendXML appends the serialization of e to b. contentNS is the stream's
// content namespace: elements whose Space is empty are written in it, without
// an xmlns declaration when the parent is in it too.
func (e *Element) AppendXML(b []byte, contentNS string) []byte {
	return e.appendXML(b, "", contentNS)
}

// appendXML writes e inside a parent whose default namespace is parentNS
// ("" meaning the content namespace).
func (e *Element) appendXML(b []byte, parentNS, contentNS string) []byte {
	b = append(b, '<')
	b = append(b, e.Local...)
	if e.Space != parentNS {
		ns := e.Space
		if ns == "" {
			ns = contentNS
		}
		b = append(b, ` xmlns="`...)
		b = appendEscaped(b, ns, true)
		b = append(b, '"')
	}
	prefixes := 0
	for _, a := range e.Attrs {
		b = append(b, ' ')
		switch a.Space {
		case "":
		case NSXML:
			b = append(b, "xml:"...)
		default:
			// Namespaced attributes other than xml:* are rare in XMPP; each
			// gets a prefix declared on this element.
			p := "a" + strconv.Itoa(prefixes)
			prefixes++
			b = append(b, "xmlns:"...)
			b = append(b, p...)
			b = append(b, `="`...)
			b = appendEscaped(b, a.Space, true)
			b = append(b, `" `...)
			b = append(b, p...)
			b = append(b, ':')
		}
		b = append(b, a.Local...)
		b = append(b, `="`...)
		b = appendEscaped(b, a.Value, true)
		b = append(b, '"')
	}
	if len(e.Nodes) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	if inner, ok := e.shared.get(e, contentNS); ok {
		b = append(b, inner...)
	} else {
		b = e.appendNodes(b, contentNS)
	}
	b = append(b, "</"...)
	b = append(b, e.Local...)
	return append(b, '>')
}

func (e *Element) appendNodes(b []byte, contentNS string) []byte {
	for _, n := range e.Nodes {
		if n.Elem != nil {
			b = n.Elem.appendXML(b, e.Space, contentNS)
		} else {
			b = appendEscaped(b, n.Text, false)
		}
	}
	return b
}

// sharedContent is the serialized content of an element that many copies
// share (a message fanned out to a room's occupants): serialized once, for
// the content namespace of the first stream that writes it.
type sharedContent struct {
	once sync.Once
	ns   string
	b    []byte
}

// get returns the shared serialization of e's content for contentNS, or
// false when there is none for that namespace.
func (sc *sharedContent) get(e *Element, contentNS string) ([]byte, bool) {
	if sc == nil {
		return nil, false
	}
	sc.once.Do(func() {
		sc.ns = contentNS
		sc.b = e.appendNodes(nil, contentNS)
	})
	return sc.b, sc.ns == contentNS
}

// ShareContent makes e's content serialize once for e and for every copy
// made afterwards with ShallowClone or ShareContentOf: each recipient of a
// fan-out then writes only its own start tag. e's content (its Nodes, and
// everything under them) must not change afterwards.
func (e *Element) ShareContent() {
	if e.shared == nil {
		e.shared = &sharedContent{}
	}
}

// ShareContentOf makes e use the shared serialization of t's content, for
// copies built by hand from the template t (whose Nodes e shares).
func (e *Element) ShareContentOf(t *Element) { e.shared = t.shared }

// appendEscaped escapes the five XML specials, and in attributes also the
// white space that attribute normalization would otherwise change.
func appendEscaped(b []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\'':
			if !attr {
				continue
			}
			esc = "&apos;"
		case '\r':
			esc = "&#xD;"
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

// escapedLen is len(appendEscaped(nil, s, attr)), without the copy.
func escapedLen(s string, attr bool) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			n += 4 // &amp;
		case '<', '>':
			n += 3 // &lt; &gt;
		case '"', '\'':
			if attr {
				n += 5 // &quot; &apos;
			}
		case '\r':
			n += 4 // &#xD;
		case '\n', '\t':
			if attr {
				n += 4 // &#xA; &#x9;
			}
		}
	}
	return n
}

// EscapeAttr returns s escaped for use inside a quoted attribute value.
func EscapeAttr(s string) string { return string(appendEscaped(nil, s, true)) }
