package xmppcore

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLimits are small, so that the fuzzer reaches them.
var fuzzLimits = Limits{MaxStanzaSize: 2048, MaxDepth: 8, MaxHeaderSize: 512}

var readerSeeds = []string{
	``,
	`<presence/>`,
	`<message to='romeo@example.net' type='chat' id='m1' xml:lang='en'><body>Hi &amp; bye &#x263A;</body>` +
		`<active xmlns='http://jabber.org/protocol/chatstates'/><origin-id xmlns='urn:xmpp:sid:0' id='x'/></message>`,
	`<message><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='a'><body>b</body></message></forwarded></message>`,
	`<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>G</group></item></query></iq>`,
	`<p:message xmlns:p='jabber:client' xmlns:q='urn:q' q:a='1' a='2'><q:x><y xmlns='urn:y' xml:lang='de'>t</y></q:x></p:message>`,
	`<body>a<![CDATA[<b>&amp;]]>c<![CDATA[]]></body>`,
	"<body a='\r\n\t&#xD;&#x9;&#xA;'>\r\n&#xD;</body>",
	" \n\t <presence/> \r\n <presence></presence> ",
	`<x xmlns='urn:x' xmlns:p='urn:1'><p:a/><y xmlns:p='urn:2'><p:b/></y><p:c/></x>`,
	`<a xmlns:p='urn:p'><b xmlns='urn:b'><p:c p:d=''/></b></a>`,
	`<a xmlns:p='urn:u' xmlns:q='urn:u' p:x='1' q:x='2'/>`,
	`<message><!-- c --></message>`,
	`<?xml version='1.0' encoding='ISO-8859-1'?>`,
	`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`,
	`<a:/><:b/><c d:=''/>`,
	`<xml:a/><b xmlns='http://www.w3.org/XML/1998/namespace'/>`,
	`<a xmlns='' xmlns:p='urn:p'><p:b xmlns=''/></a>`,
	`<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>`,
	"<body>\xff</body>",
	`<message></stream:stream>`,
	`</stream:stream><presence/>`,
	clientHeader + `<presence/>` + streamEnd,
	`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'><db:result from='a' to='b'>key</db:result>`,
	`<stream xmlns:p='urn:p'><p:a><b/></p:a>`,
	`<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='urn:a"&lt;'><x xmlns='urn:b'><y xmlns='urn:a"&lt;'/></x>`,
}

func FuzzReader(f *testing.F) {
	for _, s := range readerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// After a fixed valid header, and as the whole stream.
		checkStream(t, append([]byte(clientHeader), data...), fuzzLimits)
		checkStream(t, data, fuzzLimits)
	})
}

// checkStream reads in to the end and checks every element and error.
func checkStream(t *testing.T, in []byte, lim Limits) {
	r := NewReader(bytes.NewReader(in), lim)
	h, err := r.ReadHeader()
	if err != nil {
		checkReadError(t, err)
		return
	}
	for {
		el, err := r.Next()
		if err != nil {
			if el != nil {
				t.Fatalf("Next returned %v with %v", el, err)
			}
			checkReadError(t, err)
			return
		}
		if el == nil {
			t.Fatal("Next returned neither an element nor an error")
		}
		checkTree(t, el, lim, 1)
		// The Reader's count of the written size is exact.
		if n := len(el.AppendXML(nil, NSClient)); r.out != n {
			t.Fatalf("size counted %d, written %d: %s", r.out, n, el.AppendXML(nil, NSClient))
		}
		checkRoundTrip(t, el, h.ContentNS, lim)
	}
}

// checkReadError fails unless err is one the Reader documents: a stream
// error, the end of the stream, or (the source being in memory) the end of
// the input.
func checkReadError(t *testing.T, err error) {
	t.Helper()
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return
	}
	if _, ok := AsStreamError(err); !ok {
		t.Fatalf("unclassified error %v", err)
	}
}

// checkTree checks what the Reader guarantees of an element it returns.
func checkTree(t *testing.T, el *Element, lim Limits, depth int) {
	t.Helper()
	if depth > lim.MaxDepth {
		t.Fatalf("element %s deeper than %d", el.Local, lim.MaxDepth)
	}
	if len(el.Attrs) > maxAttrs {
		t.Fatalf("%d attributes", len(el.Attrs))
	}
	if el.Local == "" || strings.Contains(el.Local, ":") || !xmlChars(el.Space) {
		t.Fatalf("bad name {%q}%q", el.Space, el.Local)
	}
	if el.Space == NSXML || el.Space == nsXMLNS {
		t.Fatalf("element in %s", el.Space)
	}
	for i, a := range el.Attrs {
		if a.Local == "" || strings.Contains(a.Local, ":") || !xmlChars(a.Space) || !xmlChars(a.Value) {
			t.Fatalf("bad attribute %q", a)
		}
		if a.Space == "" && a.Local == "xmlns" || a.Space == nsXMLNS {
			t.Fatalf("declaration kept as an attribute: %q", a)
		}
		for _, b := range el.Attrs[:i] {
			if a.Space == b.Space && a.Local == b.Local {
				t.Fatalf("duplicate attribute %q", a)
			}
		}
	}
	for i, n := range el.Nodes {
		if n.Elem != nil {
			checkTree(t, n.Elem, lim, depth+1)
			continue
		}
		if n.Text == "" || !xmlChars(n.Text) {
			t.Fatalf("bad text node %q", n.Text)
		}
		if i > 0 && el.Nodes[i-1].Elem == nil {
			t.Fatal("adjacent text nodes")
		}
	}
}

// checkRoundTrip writes el for a stream in contentNS, reads it back and
// compares. With a content namespace of the usual length, the same limits
// apply to the written element.
func checkRoundTrip(t *testing.T, el *Element, contentNS string, lim Limits) {
	t.Helper()
	out := el.AppendXML(nil, contentNS)
	if len(contentNS) == len(NSClient) && len(out) > lim.MaxStanzaSize {
		t.Fatalf("written in %d bytes, over the %d limit: %s", len(out), lim.MaxStanzaSize, out)
	}
	if len(contentNS) != len(NSClient) {
		lim.MaxStanzaSize = 1 << 30
	}
	_, els, err := readAll(headerFor(contentNS)+string(out)+streamEnd, lim)
	if err != io.EOF || len(els) != 1 {
		t.Fatalf("%s\nreads back as %d elements, then %v", out, len(els), err)
	}
	if d := diffElem(el, els[0]); d != "" {
		t.Fatalf("%s\nreads back differently: %s", out, d)
	}
	if again := els[0].AppendXML(nil, contentNS); !bytes.Equal(again, out) {
		t.Fatalf("written again differently:\n%s\n%s", out, again)
	}
}

// xmlChars reports whether s is UTF-8 made of XML 1.0 characters.
func xmlChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r < 0x20, r == 0xFFFE, r == 0xFFFF:
			return false
		}
	}
	return true
}

// xmlName reports whether encoding/xml reads s as an element name without
// a prefix.
func xmlName(s string) bool {
	if s == "" || strings.Contains(s, ":") {
		return false
	}
	tok, err := xml.NewDecoder(strings.NewReader("<" + s + "/>")).RawToken()
	if err != nil {
		return false
	}
	st, ok := tok.(xml.StartElement)
	return ok && st.Name.Local == s && st.Name.Space == "" && len(st.Attr) == 0
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("", "message", "", "to", "a@b/c", "hello", "urn:x", "x", "inner")
	f.Add("urn:x", "q", NSXML, "lang", "en", "a&b<c>d\"e'f", "", "body", "\r\n\t")
	f.Add(NSClient, "message", "urn:p", "id", "\r\t\n &#", "]]>", NSServer, "x", "'\"")
	f.Add("urn:a\"<&", "été", "urn:a\"<&", "ü", "☺", "\U0001F600", "urn:b", "_x-1.2", "")
	f.Add("", "a", "", "b", "", "", "", "c", "")
	f.Fuzz(func(t *testing.T, space, local, aspace, alocal, aval, text, cspace, clocal, ctext string) {
		for _, s := range []string{space, aspace, aval, text, cspace, ctext} {
			if !xmlChars(s) {
				t.Skip()
			}
		}
		for _, s := range []string{local, alocal, clocal} {
			if !xmlName(s) {
				t.Skip()
			}
		}
		for _, s := range []string{space, cspace, aspace} {
			if s == nsXMLNS {
				t.Skip()
			}
		}
		if space == NSXML || cspace == NSXML || aspace == "" && (alocal == "xmlns" || alocal == "id") {
			t.Skip()
		}
		for _, s := range []string{aval, text, ctext} {
			if got, want := escapedLen(s, true), len(appendEscaped(nil, s, true)); got != want {
				t.Fatalf("escapedLen(%q, true) = %d, want %d", s, got, want)
			}
			if got, want := escapedLen(s, false), len(appendEscaped(nil, s, false)); got != want {
				t.Fatalf("escapedLen(%q, false) = %d, want %d", s, got, want)
			}
		}

		// <local xmlns=space aspace:alocal=aval id=aval>text
		//   <clocal xmlns=cspace x=ctext>ctext<clocal (content)/>ctext</clocal>
		// text</local>
		e := &Element{Space: space, Local: local, Attrs: []Attr{{aspace, alocal, aval}, {"", "id", aval}}}
		e.AppendText(text)
		c := New(cspace, clocal, "x", ctext).AppendText(ctext).Append(New("", clocal)).AppendText(ctext)
		e.Append(c)
		e.AppendText(text)

		for _, ns := range []string{NSClient, NSServer} {
			out := e.AppendXML(nil, ns)
			_, els, err := readAll(headerFor(ns)+string(out)+streamEnd, Limits{MaxStanzaSize: len(out)})
			if err != io.EOF || len(els) != 1 {
				t.Fatalf("%s\nreads back as %d elements, then %v", out, len(els), err)
			}
			want := foldContent(normalized(e), ns)
			if d := diffElem(want, els[0]); d != "" {
				t.Fatalf("%s\nreads back differently: %s", out, d)
			}
		}
	})
}

// foldContent gives the elements in ns the empty namespace, as the Reader
// does for the stream's content namespace.
func foldContent(e *Element, ns string) *Element {
	if e.Space == ns {
		e.Space = ""
	}
	for _, n := range e.Nodes {
		if n.Elem != nil {
			foldContent(n.Elem, ns)
		}
	}
	return e
}
