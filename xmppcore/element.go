package xmppcore

import (
	"iter"
	"strings"
)

// Element is one XML element with its attributes and content.
//
// Space is the namespace URI. The empty string stands for the stream's
// content namespace (jabber:client on a client stream), so that a stanza
// parsed from one kind of stream can be written to another unchanged.
type Element struct {
	Space string
	Local string
	Attrs []Attr
	Nodes []Node

	shared *sharedContent // see ShareContent
}

// Attr is an attribute. Space is empty for ordinary attributes and NSXML for
// xml:lang and friends.
type Attr struct {
	Space, Local, Value string
}

// Node is one piece of content: a child element when Elem is not nil, else
// character data.
type Node struct {
	Elem *Element
	Text string
}

// New returns an element with the given namespace, local name and attribute
// name/value pairs (a trailing odd name is ignored).
func New(space, local string, attrs ...string) *Element {
	e := &Element{Space: space, Local: local}
	if len(attrs) > 1 {
		e.Attrs = make([]Attr, 0, len(attrs)/2)
		for i := 0; i+1 < len(attrs); i += 2 {
			e.Attrs = append(e.Attrs, Attr{Local: attrs[i], Value: attrs[i+1]})
		}
	}
	return e
}

// Is reports whether e has the given namespace and local name.
func (e *Element) Is(space, local string) bool {
	return e != nil && e.Local == local && e.Space == space
}

// Attr returns the value of the attribute without namespace named local, or
// "" when it is absent.
func (e *Element) Attr(local string) string {
	v, _ := e.LookupAttr("", local)
	return v
}

// LookupAttr returns the attribute's value and whether it is present.
func (e *Element) LookupAttr(space, local string) (string, bool) {
	for i := range e.Attrs {
		if e.Attrs[i].Local == local && e.Attrs[i].Space == space {
			return e.Attrs[i].Value, true
		}
	}
	return "", false
}

// SetAttr sets (or adds) the attribute without namespace named local.
func (e *Element) SetAttr(local, value string) {
	for i := range e.Attrs {
		if e.Attrs[i].Local == local && e.Attrs[i].Space == "" {
			e.Attrs[i].Value = value
			return
		}
	}
	e.Attrs = append(e.Attrs, Attr{Local: local, Value: value})
}

// RemoveAttr deletes the attribute without namespace named local.
func (e *Element) RemoveAttr(local string) {
	for i := range e.Attrs {
		if e.Attrs[i].Local == local && e.Attrs[i].Space == "" {
			e.Attrs = append(e.Attrs[:i], e.Attrs[i+1:]...)
			return
		}
	}
}

// Lang returns the xml:lang attribute.
func (e *Element) Lang() string {
	v, _ := e.LookupAttr(NSXML, "lang")
	return v
}

// Append adds child elements and returns e, for building trees inline.
func (e *Element) Append(children ...*Element) *Element {
	e.shared = nil // the content is no longer the shared one
	for _, c := range children {
		e.Nodes = append(e.Nodes, Node{Elem: c})
	}
	return e
}

// AppendText adds character data and returns e.
func (e *Element) AppendText(s string) *Element {
	e.shared = nil
	if s != "" {
		e.Nodes = append(e.Nodes, Node{Text: s})
	}
	return e
}

// Children iterates over the child elements, skipping character data.
func (e *Element) Children() iter.Seq[*Element] {
	return func(yield func(*Element) bool) {
		for _, n := range e.Nodes {
			if n.Elem != nil && !yield(n.Elem) {
				return
			}
		}
	}
}

// Child returns the first child with the given namespace and local name, or
// nil.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Nodes {
		if n.Elem != nil && n.Elem.Local == local && n.Elem.Space == space {
			return n.Elem
		}
	}
	return nil
}

// FirstChild returns the first child element, or nil.
func (e *Element) FirstChild() *Element {
	for _, n := range e.Nodes {
		if n.Elem != nil {
			return n.Elem
		}
	}
	return nil
}

// ChildCount returns the number of child elements.
func (e *Element) ChildCount() int {
	c := 0
	for _, n := range e.Nodes {
		if n.Elem != nil {
			c++
		}
	}
	return c
}

// Text returns the character data directly inside e, concatenated.
func (e *Element) Text() string {
	switch {
	case len(e.Nodes) == 0:
		return ""
	case len(e.Nodes) == 1 && e.Nodes[0].Elem == nil:
		return e.Nodes[0].Text
	}
	var b strings.Builder
	for _, n := range e.Nodes {
		if n.Elem == nil {
			b.WriteString(n.Text)
		}
	}
	return b.String()
}

// ChildText returns the text of the first matching child, or "".
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// Clone returns a deep copy of e.
func (e *Element) Clone() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Space: e.Space, Local: e.Local}
	if len(e.Attrs) > 0 {
		c.Attrs = make([]Attr, len(e.Attrs))
		copy(c.Attrs, e.Attrs)
	}
	if len(e.Nodes) > 0 {
		c.Nodes = make([]Node, len(e.Nodes))
		for i, n := range e.Nodes {
			if n.Elem != nil {
				c.Nodes[i].Elem = n.Elem.Clone()
			} else {
				c.Nodes[i].Text = n.Text
			}
		}
	}
	return c
}

// ShallowClone copies e's name and attributes and shares its content: the
// cheap way to change an addressing attribute of a stanza being routed.
// Appending to the clone's content does not touch e or other clones.
func (e *Element) ShallowClone() *Element {
	// Cap the shared slice so that an append to the clone reallocates
	// instead of writing into e's spare capacity, which every other shallow
	// clone of e shares too.
	c := &Element{Space: e.Space, Local: e.Local, Nodes: e.Nodes[:len(e.Nodes):len(e.Nodes)], shared: e.shared}
	c.Attrs = make([]Attr, len(e.Attrs), len(e.Attrs)+1)
	copy(c.Attrs, e.Attrs)
	return c
}

// String serializes e in the client namespace, for logs and tests.
func (e *Element) String() string {
	return string(e.AppendXML(nil, NSClient))
}
