package routertest

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Parse parses one element written as on a client stream: the default
// namespace is jabber:client, so stanzas get the empty Space the router
// expects. It fails the test on malformed input.
func Parse(t testing.TB, s string) *xmppcore.Element {
	t.Helper()
	const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	r := xmppcore.NewReader(strings.NewReader(header+s+`</stream:stream>`), xmppcore.Limits{})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatalf("routertest.Parse: header: %v", err)
	}
	el, err := r.Next()
	if err != nil {
		t.Fatalf("routertest.Parse %q: %v", s, err)
	}
	return el
}

// Stanza builds what a client session hands the router: the stanza parsed
// from s with 'from' stamped to the session's full JID (as c2s does), its
// 'to' parsed, and the session as origin.
func Stanza(t testing.TB, from *Session, s string) *router.Stanza {
	t.Helper()
	el := Parse(t, s)
	el.SetAttr("from", from.JID().String())
	st := &router.Stanza{El: el, From: from.JID(), Origin: from}
	if to := el.Attr("to"); to != "" {
		j, err := jid.Parse(to)
		if err != nil {
			t.Fatalf("routertest.Stanza: bad 'to': %v", err)
		}
		st.To = j
	}
	return st
}

// Canonical returns a copy of e with attributes sorted and white-space-only
// text removed, so that elements that differ only in attribute order or
// indentation serialize identically.
func Canonical(e *xmppcore.Element) *xmppcore.Element {
	c := &xmppcore.Element{Space: e.Space, Local: e.Local, Attrs: slices.Clone(e.Attrs)}
	slices.SortFunc(c.Attrs, func(a, b xmppcore.Attr) int {
		return cmp.Or(cmp.Compare(a.Space, b.Space), cmp.Compare(a.Local, b.Local))
	})
	for _, n := range e.Nodes {
		switch {
		case n.Elem != nil:
			c.Append(Canonical(n.Elem))
		case strings.TrimSpace(n.Text) != "":
			c.AppendText(n.Text)
		}
	}
	return c
}

// Equal reports whether a and b are the same element up to attribute order
// and white-space-only text.
func Equal(a, b *xmppcore.Element) bool {
	if a == nil || b == nil {
		return a == b
	}
	return Canonical(a).String() == Canonical(b).String()
}

// AssertXML fails the test unless got equals the element written in want
// (see Parse and Equal).
func AssertXML(t testing.TB, got *xmppcore.Element, want string) {
	t.Helper()
	w := Parse(t, want)
	if got == nil {
		t.Errorf("got nothing, want\n\t%s", Canonical(w))
		return
	}
	if !Equal(got, w) {
		t.Errorf("got\n\t%s\nwant\n\t%s", Canonical(got), Canonical(w))
	}
}

// ErrorCondition returns the defined condition of a stanza error (the
// child of <error/> in the stanzas namespace other than <text/>), "" if el
// is not one.
func ErrorCondition(el *xmppcore.Element) string {
	if e := el.Child("", "error"); el.Attr("type") == "error" && e != nil {
		for ch := range e.Children() {
			if ch.Space == xmppcore.NSStanzas && ch.Local != "text" {
				return ch.Local
			}
		}
	}
	return ""
}

// JID parses s, failing the test when it is not a JID.
func JID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
