package xmppcore

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// clientHeader is a typical client stream header, with the XML declaration
// and white space before it.
const clientHeader = "<?xml version='1.0'?>\n" +
	`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'` +
	` to='example.org' from='juliet@example.org' id='s1' version='1.0' xml:lang='en'>` + "\n"

const streamEnd = `</stream:stream>`

// headerFor returns a stream header whose content namespace is ns (none when
// ns is empty).
func headerFor(ns string) string {
	if ns == "" {
		return `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`
	}
	return `<stream:stream xmlns="` + EscapeAttr(ns) + `" xmlns:stream='http://etherx.jabber.org/streams'>`
}

// readAll reads the header of s and then every element until the first error,
// which it returns (io.EOF for a stream closed with its end tag).
func readAll(s string, lim Limits) (Header, []*Element, error) {
	return readAllFrom(strings.NewReader(s), lim)
}

func readAllFrom(in io.Reader, lim Limits) (Header, []*Element, error) {
	r := NewReader(in, lim)
	h, err := r.ReadHeader()
	if err != nil {
		return h, nil, err
	}
	var els []*Element
	for {
		el, err := r.Next()
		if err != nil {
			if el != nil {
				return h, els, fmt.Errorf("Next returned both %v and %w", el, err)
			}
			return h, els, err
		}
		if el == nil {
			return h, els, errors.New("Next returned a nil element and a nil error")
		}
		els = append(els, el)
	}
}

// parseOne parses s (one top-level element) in a stream whose content
// namespace is ns.
func parseOne(s, ns string) (*Element, error) {
	_, els, err := readAll(headerFor(ns)+s+streamEnd, Limits{})
	if err != io.EOF {
		if err == nil {
			err = errors.New("no error")
		}
		return nil, err
	}
	if len(els) != 1 {
		return nil, fmt.Errorf("got %d elements, want 1", len(els))
	}
	return els[0], nil
}

// diffElem describes the first difference between a and b, or returns "".
// Nil and empty attribute and node lists are the same.
func diffElem(a, b *Element) string { return diffAt("", a, b) }

func diffAt(path string, a, b *Element) string {
	if a == nil || b == nil {
		if a == b {
			return ""
		}
		return fmt.Sprintf("%s: %v vs %v", path, a, b)
	}
	path += "/" + a.Local
	if a.Space != b.Space || a.Local != b.Local {
		return fmt.Sprintf("%s: name {%q}%s vs {%q}%s", path, a.Space, a.Local, b.Space, b.Local)
	}
	if len(a.Attrs) != len(b.Attrs) {
		return fmt.Sprintf("%s: attrs %q vs %q", path, a.Attrs, b.Attrs)
	}
	for i := range a.Attrs {
		if a.Attrs[i] != b.Attrs[i] {
			return fmt.Sprintf("%s: attr %d: %q vs %q", path, i, a.Attrs[i], b.Attrs[i])
		}
	}
	if len(a.Nodes) != len(b.Nodes) {
		return fmt.Sprintf("%s: %d nodes vs %d", path, len(a.Nodes), len(b.Nodes))
	}
	for i, n := range a.Nodes {
		m := b.Nodes[i]
		switch {
		case (n.Elem == nil) != (m.Elem == nil):
			return fmt.Sprintf("%s: node %d: %v %q vs %v %q", path, i, n.Elem, n.Text, m.Elem, m.Text)
		case n.Elem != nil:
			if d := diffAt(path, n.Elem, m.Elem); d != "" {
				return d
			}
		case n.Text != m.Text:
			return fmt.Sprintf("%s: text node %d: %q vs %q", path, i, n.Text, m.Text)
		}
	}
	return ""
}

// normalized returns a copy of e as a parser would give it back: adjacent
// text nodes merged, empty ones dropped, empty lists nil.
func normalized(e *Element) *Element {
	c := &Element{Space: e.Space, Local: e.Local}
	if len(e.Attrs) > 0 {
		c.Attrs = append([]Attr(nil), e.Attrs...)
	}
	for _, n := range e.Nodes {
		switch {
		case n.Elem != nil:
			c.Nodes = append(c.Nodes, Node{Elem: normalized(n.Elem)})
		case n.Text == "":
		case len(c.Nodes) > 0 && c.Nodes[len(c.Nodes)-1].Elem == nil:
			c.Nodes[len(c.Nodes)-1].Text += n.Text
		default:
			c.Nodes = append(c.Nodes, Node{Text: n.Text})
		}
	}
	return c
}

// condOf returns the stream error condition of err, or a description of err
// when it carries none.
func condOf(err error) string {
	if se, ok := AsStreamError(err); ok {
		return se.Err
	}
	return fmt.Sprintf("no stream error (%v)", err)
}
