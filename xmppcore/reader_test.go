package xmppcore

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"mellium.im/xmpp/stream"
)

func TestReadHeader(t *testing.T) {
	for i, tc := range []struct {
		in   string
		want Header
	}{
		0: {clientHeader, Header{
			Name:      xml.Name{Space: NSStream, Local: "stream"},
			ContentNS: NSClient,
			To:        "example.org", From: "juliet@example.org", ID: "s1", Version: "1.0", Lang: "en",
		}},
		1: {"\n  \t<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n" +
			`<s:stream xmlns:s="http://etherx.jabber.org/streams" xmlns="jabber:server" from="a.example" to="b.example" version="1.0">`,
			Header{
				Name:      xml.Name{Space: NSStream, Local: "stream"},
				ContentNS: NSServer,
				To:        "b.example", From: "a.example", Version: "1.0",
			}},
		// No XML declaration, lower-case utf-8, no default namespace, and a
		// namespaced "to" that is not the header's.
		2: {`<?xml version='1.0' encoding='utf-8'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:x' x:to='no' to='yes'>`,
			Header{Name: xml.Name{Space: NSStream, Local: "stream"}, To: "yes"}},
		3: {`<stream xmlns='urn:other'>`, Header{Name: xml.Name{Space: "urn:other", Local: "stream"}, ContentNS: "urn:other"}},
	} {
		r := NewReader(strings.NewReader(tc.in), Limits{})
		h, err := r.ReadHeader()
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		if h != tc.want {
			t.Errorf("%d: header\n%+v\nwant\n%+v", i, h, tc.want)
		}
		if _, err := r.ReadHeader(); err == nil {
			t.Errorf("%d: a second ReadHeader succeeded", i)
		}
	}

	if _, err := NewReader(strings.NewReader(clientHeader), Limits{}).Next(); err == nil {
		t.Error("Next before ReadHeader succeeded")
	}
}

// billionLaughs is the classic entity expansion bomb.
const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
`

func TestReadHeaderErrors(t *testing.T) {
	const root = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	for i, tc := range []struct {
		in   string
		lim  Limits
		want stream.Error
	}{
		0:  {`<!-- hi -->` + root, Limits{}, stream.RestrictedXML},
		1:  {`<?xml version='1.0'?><!DOCTYPE stream>` + root, Limits{}, stream.RestrictedXML},
		2:  {billionLaughs + root, Limits{}, stream.RestrictedXML},
		3:  {billionLaughs + root, Limits{MaxHeaderSize: 200}, stream.PolicyViolation},
		4:  {`<?php echo 1?>` + root, Limits{}, stream.RestrictedXML},
		5:  {`<?xml version='1.0' encoding='ISO-8859-1'?>` + root, Limits{}, stream.UnsupportedEncoding},
		6:  {`<?xml version="1.0" encoding="UTF-16"?>` + root, Limits{}, stream.UnsupportedEncoding},
		7:  {`<?xml version='1.1'?>` + root, Limits{}, stream.NotWellFormed},
		8:  {`hello` + root, Limits{}, stream.NotWellFormed},
		9:  {`</stream:stream>`, Limits{}, stream.NotWellFormed},
		10: {`<stream:stream xmlns='jabber:client'>`, Limits{}, stream.BadNamespacePrefix},
		11: {`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns:xml='urn:x'>`, Limits{}, stream.BadNamespacePrefix},
		12: {`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns:p=''>`, Limits{}, stream.BadNamespacePrefix},
		13: {`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='` + strings.Repeat("a", 5000) + `'>`, Limits{}, stream.PolicyViolation},
		14: {`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='` + strings.Repeat("a", 100) + `'>`, Limits{MaxHeaderSize: 100}, stream.PolicyViolation},
		15: {strings.Repeat(" ", 5000) + root, Limits{}, stream.PolicyViolation},
		16: {`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='a` + "\xff" + `'>`, Limits{}, stream.NotWellFormed},
		17: {`<stream:stream to='x'/x>`, Limits{}, stream.NotWellFormed},
		18: {`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to="&encoding;">`, Limits{}, stream.NotWellFormed},
		19: {`<?xml version='encoding'?>` + root, Limits{}, stream.NotWellFormed},
	} {
		_, err := NewReader(strings.NewReader(tc.in), tc.lim).ReadHeader()
		if got := condOf(err); got != tc.want.Err {
			t.Errorf("%d: got %s, want %s", i, got, tc.want.Err)
		}
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	// The limit counts every byte up to and including the header's ">".
	hdr := `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>`
	if _, err := NewReader(strings.NewReader(hdr), Limits{MaxHeaderSize: len(hdr)}).ReadHeader(); err != nil {
		t.Errorf("header of exactly MaxHeaderSize bytes: %v", err)
	}
	_, err := NewReader(strings.NewReader(" "+hdr), Limits{MaxHeaderSize: len(hdr)}).ReadHeader()
	if got := condOf(err); got != "policy-violation" {
		t.Errorf("header one byte over MaxHeaderSize: %s", got)
	}
}

func TestNext(t *testing.T) {
	attrs := func(e *Element, a ...Attr) *Element { e.Attrs = a; return e }
	for i, tc := range []struct {
		in   string
		want []*Element
	}{
		0: {`<message to='romeo@example.net' type='chat' id='m1'><body>Hi!</body></message>`,
			[]*Element{New("", "message", "to", "romeo@example.net", "type", "chat", "id", "m1").Append(New("", "body").AppendText("Hi!"))}},
		// Nesting, white space inside a stanza kept as text.
		1: {"<iq type='set' id='1'>\n <query xmlns='jabber:iq:roster'>\n  <item jid='a@b'><group>G</group></item>\n </query>\n</iq>",
			[]*Element{New("", "iq", "type", "set", "id", "1").AppendText("\n ").Append(
				New("jabber:iq:roster", "query").AppendText("\n  ").Append(
					New("jabber:iq:roster", "item", "jid", "a@b").Append(New("jabber:iq:roster", "group").AppendText("G")),
				).AppendText("\n "),
			).AppendText("\n")}},
		// Default namespace redeclared on a child, restored after it.
		2: {`<message><x xmlns='urn:x'><y/><z xmlns='urn:z'><w/></z><v/></x><body/></message>`,
			[]*Element{New("", "message").Append(
				New("urn:x", "x").Append(New("urn:x", "y"), New("urn:z", "z").Append(New("urn:z", "w")), New("urn:x", "v")),
				New("", "body"))}},
		// Prefixed children; the default namespace stays the content one.
		3: {`<message xmlns:a='urn:a'><a:x><a:y/><z/></a:x></message>`,
			[]*Element{New("", "message").Append(New("urn:a", "x").Append(New("urn:a", "y"), New("", "z")))}},
		// xml:lang, and prefixed attributes.
		4: {`<message xml:lang='de' xmlns:p='urn:p' p:x='1' x='2'><body xml:lang='en'>hi</body></message>`,
			[]*Element{attrs(New("", "message"),
				Attr{Space: NSXML, Local: "lang", Value: "de"},
				Attr{Space: "urn:p", Local: "x", Value: "1"},
				Attr{Local: "x", Value: "2"},
			).Append(attrs(New("", "body"), Attr{Space: NSXML, Local: "lang", Value: "en"}).AppendText("hi"))}},
		// A jabber:client child of a foreign parent is in the content
		// namespace: Space "".
		5: {`<message><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='a'><body>b</body></message></forwarded></message>`,
			[]*Element{New("", "message").Append(New("urn:xmpp:forward:0", "forwarded").Append(
				New("", "message", "to", "a").Append(New("", "body").AppendText("b"))))}},
		// CDATA sections are merged with the text around them.
		6: {`<body>a<![CDATA[<b>&amp;]]>c<![CDATA[]]><![CDATA[d]]></body>`,
			[]*Element{New("", "body").AppendText("a<b>&amp;cd")}},
		7: {`<body><![CDATA[]]></body><body><![CDATA[x]]><x/><![CDATA[]]></body>`,
			[]*Element{New("", "body"), New("", "body").AppendText("x").Append(New("", "x"))}},
		// Entities.
		8: {`<body a='&amp;&lt;&#x263A;&apos;'>&amp;&lt;&gt;&quot;&apos;&#x263A;&#9786;</body>`,
			[]*Element{New("", "body", "a", "&<☺'").AppendText(`&<>"'☺☺`)}},
		// Keepalives between stanzas produce nothing.
		9: {" \n\t <presence/>\r\n \n<presence></presence>   ",
			[]*Element{New("", "presence"), New("", "presence")}},
		// A prefix bound to the content namespace, a prefix shadowed.
		10: {`<c:message xmlns:c='jabber:client'><c:body/></c:message>`,
			[]*Element{New("", "message").Append(New("", "body"))}},
		11: {`<x xmlns='urn:x' xmlns:p='urn:1'><p:a/><y xmlns:p='urn:2'><p:b/></y><p:c/></x>`,
			[]*Element{New("urn:x", "x").Append(New("urn:1", "a"), New("urn:x", "y").Append(New("urn:2", "b")), New("urn:1", "c"))}},
		// Another stanza namespace is kept as it is.
		12: {`<message xmlns='jabber:server'/>`, []*Element{New(NSServer, "message")}},
		// Line ends are normalized, a character reference is not.
		13: {"<body>a\r\nb\rc&#xD;d&#xA;</body>", []*Element{New("", "body").AppendText("a\nb\nc\rd\n")}},
		// Mixed content keeps its order.
		14: {`<p>x<b/>y<i>z</i></p>`, []*Element{New("", "p").AppendText("x").Append(New("", "b")).AppendText("y").Append(New("", "i").AppendText("z"))}},
		15: {``, nil},
	} {
		h, els, err := readAll(clientHeader+tc.in+streamEnd, Limits{})
		if err != io.EOF {
			t.Errorf("%d: error %v after %d elements, want io.EOF", i, err, len(els))
			continue
		}
		if h.ContentNS != NSClient {
			t.Errorf("%d: content namespace %q", i, h.ContentNS)
		}
		if len(els) != len(tc.want) {
			t.Errorf("%d: %d elements, want %d: %v", i, len(els), len(tc.want), els)
			continue
		}
		for j := range els {
			if d := diffElem(tc.want[j], els[j]); d != "" {
				t.Errorf("%d: element %d: %s\ngot %s", i, j, d, els[j])
			}
		}
	}
}

// The limits are inclusive: exactly the limit passes, one more does not.
func TestLimitsBoundary(t *testing.T) {
	hdr := headerFor(NSClient)
	nest := func(n int) string {
		return strings.Repeat("<a>", n) + strings.Repeat("</a>", n)
	}
	manyAttrs := func(n int) string {
		var b strings.Builder
		b.WriteString("<a")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, " a%d=''", i)
		}
		b.WriteString("/>")
		return b.String()
	}
	decls := func(n int) string {
		var b strings.Builder
		b.WriteString("<a")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, " xmlns:p%d='urn:%d'", i, i)
		}
		b.WriteString("/>")
		return b.String()
	}
	sized := func(n int) string { // an element of exactly n bytes
		return "<a>" + strings.Repeat("x", n-7) + "</a>"
	}
	for i, tc := range []struct {
		stanza string
		lim    Limits
		ok     bool
	}{
		0: {nest(4), Limits{MaxDepth: 4}, true},
		1: {nest(5), Limits{MaxDepth: 4}, false},
		2: {nest(32), Limits{}, true},
		3: {nest(33), Limits{}, false},
		4: {manyAttrs(64), Limits{}, true},
		5: {manyAttrs(65), Limits{}, false},
		// Namespace declarations are counted apart: the serializer adds one
		// per namespaced attribute, and its output must still be accepted.
		6:  {`<a xmlns:p='urn:p'` + strings.TrimPrefix(manyAttrs(64), "<a"), Limits{}, true},
		9:  {`<a xmlns='urn:x'` + strings.TrimPrefix(decls(64), "<a"), Limits{}, true},
		10: {`<a xmlns='urn:x'` + strings.TrimPrefix(decls(65), "<a"), Limits{}, false},
		7:  {sized(100), Limits{MaxStanzaSize: 100}, true},
		8:  {sized(101), Limits{MaxStanzaSize: 100}, false},
	} {
		_, els, err := readAll(hdr+tc.stanza+streamEnd, tc.lim)
		if tc.ok {
			if err != io.EOF || len(els) != 1 {
				t.Errorf("%d: %v after %d elements", i, err, len(els))
			}
			continue
		}
		if got := condOf(err); got != "policy-violation" || len(els) != 0 {
			t.Errorf("%d: %s after %d elements, want policy-violation", i, got, len(els))
		}
	}
}

// White space between stanzas does not count against the next one, however
// much of it comes over time, but one run of it is bounded too.
func TestKeepalives(t *testing.T) {
	lim := Limits{MaxStanzaSize: 100}
	var b strings.Builder
	b.WriteString(headerFor(NSClient))
	for i := 0; i < 20; i++ {
		b.WriteString(strings.Repeat(" ", 90))
		b.WriteString("<a>" + strings.Repeat("x", 90) + "</a>")
	}
	_, els, err := readAll(b.String()+streamEnd, lim)
	if err != io.EOF || len(els) != 20 {
		t.Fatalf("%v after %d elements", err, len(els))
	}
	for _, el := range els {
		if len(el.Nodes) != 1 || len(el.Text()) != 90 {
			t.Fatalf("element %v", el)
		}
	}

	_, els, err = readAll(headerFor(NSClient)+"<a/>"+strings.Repeat(" \n", 60)+"<a/>", lim)
	if got := condOf(err); got != "policy-violation" || len(els) != 1 {
		t.Errorf("120 bytes of white space: %s after %d elements", got, len(els))
	}
}

func TestNextErrors(t *testing.T) {
	dup := func(s string) string { return s }
	for i, tc := range []struct {
		in   string // after clientHeader
		lim  Limits
		nOK  int // elements read before the error
		want stream.Error
	}{
		// Malformed XML.
		0: {`<message><body></message>`, Limits{}, 0, stream.NotWellFormed},
		1: {`<message to='a></message>`, Limits{}, 0, stream.NotWellFormed},
		2: {`<message><</message>`, Limits{}, 0, stream.NotWellFormed},
		3: {`<presence/></message>`, Limits{}, 1, stream.NotWellFormed},
		4: {`</stream:other>`, Limits{}, 0, stream.NotWellFormed},
		5: {`<message to=a/>`, Limits{}, 0, stream.NotWellFormed},
		6: {`<message to/>`, Limits{}, 0, stream.NotWellFormed},
		7: {`<p:message xmlns:p='jabber:client'></message>`, Limits{}, 0, stream.NotWellFormed},
		8: {`<a:b:c xmlns:a='urn:a'/>`, Limits{}, 0, stream.NotWellFormed},
		// Namespace prefixes.
		9:  {`<p:message/>`, Limits{}, 0, stream.BadNamespacePrefix},
		10: {`<message p:x='1'/>`, Limits{}, 0, stream.BadNamespacePrefix},
		11: {`<message><x xmlns:p='urn:p'/><p:y/></message>`, Limits{}, 0, stream.BadNamespacePrefix},
		12: {`<xmlns:x/>`, Limits{}, 0, stream.BadNamespacePrefix},
		13: {`<a xmlns:xml='urn:x'/>`, Limits{}, 0, stream.BadNamespacePrefix},
		14: {`<a xmlns:xmlns='urn:x'/>`, Limits{}, 0, stream.BadNamespacePrefix},
		15: {`<a xmlns:p=''/>`, Limits{}, 0, stream.BadNamespacePrefix},
		// Restricted XML.
		16: {`<message><!-- c --></message>`, Limits{}, 0, stream.RestrictedXML},
		17: {`<presence/><!-- c -->`, Limits{}, 1, stream.RestrictedXML},
		18: {`<?foo bar?>`, Limits{}, 0, stream.RestrictedXML},
		19: {`<message><?foo bar?></message>`, Limits{}, 0, stream.RestrictedXML},
		20: {`<?xml version='1.0'?>`, Limits{}, 0, stream.RestrictedXML},
		21: {`<!DOCTYPE message>`, Limits{}, 0, stream.RestrictedXML},
		22: {billionLaughs[len(`<?xml version="1.0"?>`):] + `<lolz>&lol9;</lolz>`, Limits{}, 0, stream.RestrictedXML},
		23: {`<message><!ENTITY x "y"></message>`, Limits{}, 0, stream.RestrictedXML},
		// Encodings.
		24: {`<?xml version='1.0' encoding='ISO-8859-1'?>`, Limits{}, 0, stream.UnsupportedEncoding},
		// Bad characters.
		25: {"<body>a\xffb</body>", Limits{}, 0, stream.NotWellFormed},
		26: {"<body to='\xc3\x28'/>", Limits{}, 0, stream.NotWellFormed},
		27: {"<body>\xed\xa0\x80</body>", Limits{}, 0, stream.NotWellFormed}, // an encoded surrogate
		28: {"<b\xff/>", Limits{}, 0, stream.NotWellFormed},
		29: {"<body>\x01</body>", Limits{}, 0, stream.NotWellFormed},
		30: {"<body>&#0;</body>", Limits{}, 0, stream.NotWellFormed},
		31: {"<body>&#x110000;&#xFFFE;</body>", Limits{}, 0, stream.NotWellFormed},
		32: {"<body a='&#x1;'/>", Limits{}, 0, stream.NotWellFormed},
		// Entities.
		33: {`<body>&foo;</body>`, Limits{}, 0, stream.NotWellFormed},
		34: {`<body>&amp</body>`, Limits{}, 0, stream.NotWellFormed},
		35: {`<body>&encoding;</body>`, Limits{}, 0, stream.NotWellFormed},
		36: {`<body a='&lol9;'/>`, Limits{}, 0, stream.NotWellFormed},
		37: {`<body>& </body>`, Limits{}, 0, stream.NotWellFormed},
		// Limits.
		38: {`<presence/><message><body>` + strings.Repeat("x", 200) + `</body></message>`, Limits{MaxStanzaSize: 100}, 1, stream.PolicyViolation},
		39: {`<message>` + strings.Repeat(`<a>`, 33), Limits{}, 0, stream.PolicyViolation},
		40: {`<presence/>` + strings.Repeat(`<a>`, 5), Limits{MaxDepth: 4}, 1, stream.PolicyViolation},
		41: {`<presence/>` + strings.Repeat(" ", 101) + `<presence/>`, Limits{MaxStanzaSize: 100}, 1, stream.PolicyViolation},
		42: {`<message ` + strings.Repeat(`a='`, 1) + strings.Repeat("x", 1000) + `'/>`, Limits{MaxStanzaSize: 100}, 0, stream.PolicyViolation},
		// Duplicate attributes, also after prefix resolution.
		43: {dup(`<message to='a' to='b'/>`), Limits{}, 0, stream.NotWellFormed},
		44: {`<message xmlns:p='urn:u' xmlns:q='urn:u' p:x='1' q:x='2'/>`, Limits{}, 0, stream.NotWellFormed},
		45: {`<message xml:lang='en' xml:lang='de'/>`, Limits{}, 0, stream.NotWellFormed},
		46: {`<message xmlns:p='http://www.w3.org/XML/1998/namespace' xml:lang='en' p:lang='de'/>`, Limits{}, 0, stream.BadNamespacePrefix},
		// Text between stanzas.
		47: {`hello<presence/>`, Limits{}, 0, stream.NotWellFormed},
		48: {`<presence/> . `, Limits{}, 1, stream.NotWellFormed},
		49: {`<![CDATA[x]]>`, Limits{}, 0, stream.NotWellFormed},
		50: {"\u00a0<presence/>", Limits{}, 0, stream.NotWellFormed}, // not XML white space
	} {
		_, els, err := readAll(clientHeader+tc.in+streamEnd, tc.lim)
		if got := condOf(err); got != tc.want.Err {
			t.Errorf("%d: got %s, want %s", i, got, tc.want.Err)
		}
		if len(els) != tc.nOK {
			t.Errorf("%d: %d elements before the error, want %d", i, len(els), tc.nOK)
		}
	}
}

// Input that is not namespace-well-formed (XML-NAMES) is refused rather than
// relayed to peers whose parsers would refuse it.
func TestNamespaceWellFormedness(t *testing.T) {
	for i, tc := range []struct {
		in   string
		want stream.Error
	}{
		0:  {`<a:/>`, stream.NotWellFormed},
		1:  {`<:a/>`, stream.NotWellFormed},
		2:  {`<a :b='1'/>`, stream.NotWellFormed},
		3:  {`<a b:='1'/>`, stream.NotWellFormed},
		4:  {`<a xmlns:='urn:x'/>`, stream.NotWellFormed},
		5:  {`<message xmlns='u' xmlns='v'/>`, stream.NotWellFormed},
		6:  {`<message xmlns:p='u' xmlns:p='v'/>`, stream.NotWellFormed},
		7:  {`<xml:a/>`, stream.BadNamespacePrefix},
		8:  {`<a xmlns='http://www.w3.org/XML/1998/namespace'/>`, stream.BadNamespacePrefix},
		9:  {`<a xmlns:p='http://www.w3.org/2000/xmlns/'/>`, stream.BadNamespacePrefix},
		10: {`<a xmlns='http://www.w3.org/2000/xmlns/'/>`, stream.BadNamespacePrefix},
		// A local part that cannot start a name, though "p:0" is a name.
		11: {`<a xmlns:p='urn:p'><p:0/></a>`, stream.NotWellFormed},
		12: {`<a xmlns:p='urn:p'><p:-/></a>`, stream.NotWellFormed},
		13: {`<a xmlns:p='urn:p' p:.x=''/>`, stream.NotWellFormed},
		14: {"<a xmlns:p='urn:p'><p:٠/></a>", stream.NotWellFormed},  // ARABIC-INDIC DIGIT ZERO
		15: {"<a xmlns:p='urn:p'><p:́x/></a>", stream.NotWellFormed}, // COMBINING ACUTE ACCENT
		16: {`<a xmlns:0='urn:p'/>`, stream.NotWellFormed},
	} {
		_, els, err := readAll(clientHeader+tc.in+streamEnd, Limits{})
		if got := condOf(err); got != tc.want.Err || len(els) != 0 {
			t.Errorf("%d: %s got %s after %d elements, want %s", i, tc.in, got, len(els), tc.want.Err)
		}
	}
	// What is allowed: the same namespace under two prefixes on different
	// attributes, xml:* attributes, unprefixed attributes beside prefixed
	// ones with the same local name.
	_, els, err := readAll(clientHeader+`<a xmlns:p='urn:u' xmlns:q='urn:u' p:x='1' q:y='2' x='3' xml:x='4'/>`+streamEnd, Limits{})
	if err != io.EOF || len(els) != 1 || len(els[0].Attrs) != 4 {
		t.Errorf("%v, %v", els, err)
	}
	// Prefixed names with any letter first.
	_, els, err = readAll(clientHeader+`<p:été xmlns:p='urn:p' p:_x='' p:Ωx='' p:中=''><p:ж/></p:été>`+streamEnd, Limits{})
	if err != io.EOF || len(els) != 1 || len(els[0].Attrs) != 3 || els[0].FirstChild().Local != "ж" {
		t.Errorf("%v, %v", els, err)
	}
}

// The end of the connection without the stream's end tag is not the peer
// closing the stream.
func TestUnexpectedEOF(t *testing.T) {
	for i, in := range []string{
		``,
		`<presence/>`,
		`<presence/>  `,
		`<message><body>hi`,
		`<message to='a`,
		`<message><![CDATA[x`,
		`</stream:str`,
	} {
		_, _, err := readAll(clientHeader+in, Limits{})
		if err != io.ErrUnexpectedEOF {
			t.Errorf("%d: %q: %v, want io.ErrUnexpectedEOF", i, in, err)
		}
	}
	if _, err := NewReader(strings.NewReader(`<stream:stream`), Limits{}).ReadHeader(); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated header: %v", err)
	}
	if _, err := NewReader(strings.NewReader(``), Limits{}).ReadHeader(); err != io.ErrUnexpectedEOF {
		t.Errorf("empty stream: %v", err)
	}
}

// scriptReader returns its steps in turn: a string is data, an error is
// returned as it is. After the script it returns io.EOF.
type scriptReader struct {
	steps []any
	reads int
}

func (s *scriptReader) Read(p []byte) (int, error) {
	s.reads++
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	step := s.steps[0]
	switch v := step.(type) {
	case string:
		n := copy(p, v)
		if n < len(v) {
			s.steps[0] = v[n:]
		} else {
			s.steps = s.steps[1:]
		}
		return n, nil
	case error:
		s.steps = s.steps[1:]
		return 0, v
	}
	panic(fmt.Sprintf("bad step %T", step))
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

func TestIOErrorPassesThrough(t *testing.T) {
	boom := errors.New("connection reset by a test")
	src := &scriptReader{steps: []any{clientHeader + "<presence/><message><bo", boom}}
	_, els, err := readAllFrom(src, Limits{})
	if err != boom {
		t.Errorf("got %v, want the source's error itself", err)
	}
	if _, ok := AsStreamError(err); ok {
		t.Error("an I/O error became a stream error")
	}
	if len(els) != 1 {
		t.Errorf("%d elements before the error", len(els))
	}

	// A timeout nobody handles is an I/O error too.
	src = &scriptReader{steps: []any{clientHeader, timeoutError{}, "<presence/>"}}
	_, _, err = readAllFrom(src, Limits{})
	if _, ok := err.(timeoutError); !ok {
		t.Errorf("unhandled timeout: %v", err)
	}
}

func TestOnTimeout(t *testing.T) {
	// A callback returning nil lets the read go on where it was, in the
	// middle of a stanza.
	src := &scriptReader{steps: []any{clientHeader + "<message><body>a", timeoutError{}, "b</body></message>", timeoutError{}, timeoutError{}, streamEnd}}
	br := NewByteReader(src, 16)
	calls := 0
	br.OnTimeout = func() error { calls++; return nil }
	_, els, err := readAllFrom(br, Limits{})
	if err != io.EOF || len(els) != 1 {
		t.Fatalf("%v after %d elements", err, len(els))
	}
	if got := els[0].ChildText("", "body"); got != "ab" {
		t.Errorf("body %q", got)
	}
	if calls != 3 {
		t.Errorf("OnTimeout called %d times, want 3", calls)
	}
	if want := int64(len(clientHeader + "<message><body>ab</body></message>" + streamEnd)); br.Total() != want {
		t.Errorf("Total = %d, want %d", br.Total(), want)
	}

	// A callback returning an error ends the read with that error.
	stop := errors.New("no pong")
	src = &scriptReader{steps: []any{clientHeader + "<presence/>", timeoutError{}, "<presence/>"}}
	br = NewByteReader(src, 0)
	br.OnTimeout = func() error { return stop }
	_, els, err = readAllFrom(br, Limits{})
	if err != stop || len(els) != 1 {
		t.Errorf("%v after %d elements, want the callback's error after 1", err, len(els))
	}
	// And it sticks.
	if _, err := br.ReadByte(); err != stop {
		t.Errorf("next ReadByte: %v", err)
	}
}

// The same over a real connection with a read deadline, the way a session
// uses it: on timeout it sends a ping, sets a new deadline and goes on.
func TestOnTimeoutConn(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()

	br := NewByteReader(server, 0)
	pinged := make(chan struct{})
	calls := 0
	br.OnTimeout = func() error {
		calls++
		if calls == 1 {
			close(pinged)
		}
		return server.SetReadDeadline(time.Now().Add(5 * time.Second))
	}
	go func() {
		io.WriteString(client, clientHeader)
		<-pinged
		io.WriteString(client, "<message><body>pong</body></message>")
	}()
	r := NewReader(br, Limits{})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	el, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if el.ChildText("", "body") != "pong" || calls != 1 {
		t.Errorf("got %v after %d timeouts", el, calls)
	}
}

func TestByteReader(t *testing.T) {
	br := NewByteReader(strings.NewReader("abcdefgh"), 4)
	br.budget = 3
	p := make([]byte, 8)
	n, err := br.Read(p)
	if n != 3 || err != nil || string(p[:n]) != "abc" {
		t.Fatalf("Read = %d %q, %v", n, p[:n], err)
	}
	if br.Buffered() != 1 || br.Total() != 4 {
		t.Errorf("Buffered %d, Total %d", br.Buffered(), br.Total())
	}
	if _, err := br.Read(p); !errors.Is(err, errTooLarge) {
		t.Errorf("Read over budget: %v", err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, errTooLarge) {
		t.Errorf("ReadByte over budget: %v", err)
	}

	// Without a Reader around it there is no budget.
	br = NewByteReader(strings.NewReader(strings.Repeat("x", 10000)), 0)
	all, err := io.ReadAll(br)
	if len(all) != 10000 || err != nil {
		t.Errorf("ReadAll: %d, %v", len(all), err)
	}
}

// What a client pipelines after an element stays buffered, so that the
// session can refuse it before starting TLS.
func TestBuffered(t *testing.T) {
	const tail = `<message>sneaky</message>`
	br := NewByteReader(strings.NewReader(clientHeader+`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`+tail), 0)
	r := NewReader(br, Limits{})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := r.Next()
	if err != nil || !el.Is(NSTLS, "starttls") {
		t.Fatalf("%v, %v", el, err)
	}
	if br.Buffered() != len(tail) {
		t.Errorf("Buffered = %d, want %d", br.Buffered(), len(tail))
	}
}

// Text split into many pieces (CDATA sections between text) costs linear
// time and memory, not quadratic.
func TestManyTextPieces(t *testing.T) {
	var b strings.Builder
	b.WriteString(headerFor(NSClient) + "<a>")
	pieces := 0
	for b.Len() < 250<<10 {
		b.WriteString("x<![CDATA[y]]>")
		pieces++
	}
	b.WriteString("</a>")
	in := b.String()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, els, err := readAll(in, Limits{})
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF || len(els) != 1 {
		t.Fatalf("%v after %d elements", err, len(els))
	}
	if got := els[0].Text(); len(got) != 2*pieces || len(els[0].Nodes) != 1 {
		t.Fatalf("%d bytes of text in %d nodes", len(got), len(els[0].Nodes))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 40*uint64(len(in)) {
		t.Errorf("parsing %d bytes allocated %d", len(in), alloc)
	}
}

// The Reader does not keep the last stanza alive once it has handed it out.
func TestNoRetention(t *testing.T) {
	r := NewReader(strings.NewReader(clientHeader+"<message><body>"+strings.Repeat("x", 1000)+"</body></message>"), Limits{})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	body := weak.Make(el.FirstChild())
	el = nil
	for i := 0; i < 5 && body.Value() != nil; i++ {
		runtime.GC()
	}
	if body.Value() != nil {
		t.Error("the reader still references the stanza it returned")
	}
	runtime.KeepAlive(r)
}

// Whatever the Reader accepts, once written, is accepted by a Reader with
// the same limits (a Parley server on the other end of a federation link):
// the serializer's extra namespace declarations must not push an element
// over the attribute limit.
func TestWrittenPassesSameLimits(t *testing.T) {
	var decls, attrs strings.Builder
	for i := 0; i < maxAttrs; i++ {
		fmt.Fprintf(&decls, " xmlns:p%d='urn:p%d'", i, i)
		fmt.Fprintf(&attrs, " p%d:x='%d'", i, i)
	}
	attrs63 := attrs.String()[:strings.LastIndex(attrs.String(), " ")]
	for i, tc := range []struct {
		in  string
		lim Limits
	}{
		// Namespaced attributes whose prefixes the parent declares are
		// written with one declaration each on the child itself.
		0: {`<message` + decls.String() + `><x` + attrs63 + `/></message>`, Limits{}},
		1: {`<message` + decls.String() + `><x xmlns='urn:x'` + attrs.String() + `/></message>`, Limits{}},
	} {
		_, els, err := readAll(clientHeader+tc.in+streamEnd, tc.lim)
		if err != io.EOF || len(els) != 1 {
			t.Errorf("%d: %v after %d elements", i, err, len(els))
			continue
		}
		for _, ns := range []string{NSClient, NSServer} {
			out := els[0].AppendXML(nil, ns)
			_, back, err := readAll(headerFor(ns)+string(out)+streamEnd, tc.lim)
			if err != io.EOF || len(back) != 1 {
				t.Errorf("%d: written as %d bytes, read back: %v", i, len(out), err)
				continue
			}
			if d := diffElem(els[0], back[0]); d != "" {
				t.Errorf("%d: %s", i, d)
			}
		}
	}
}

// The written size of an element counts against MaxStanzaSize too: it can
// be far larger than what was read, since the serializer declares a
// namespace on every element that needs it.
func TestWrittenSizeLimit(t *testing.T) {
	for i, in := range []string{
		0: `<a xmlns:p='urn:p'><b xmlns='urn:b'><p:c/><p:c/><p:c/></b></a>`,
		1: `<a><![CDATA[>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>]]></a>`,
		2: `<a v="'''''''''''''''''''''''''''''''''''''"/>`,
		3: `<a xmlns:p='urn:pppppppppppppppppppppp' p:x='1'><b p:y='2'/><b p:y='3'/></a>`,
		4: `<x xmlns='urn:x' xmlns:c='jabber:client'><c:m/><c:m/><c:m/></x>`,
		5: `<a xml:lang='en'><![CDATA[&&&&&&&&&&&&&&&&]]><b/>&#xD;</a>`,
	} {
		el, err := parseOne(in, NSClient)
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		size := len(el.AppendXML(nil, NSClient))
		if size != len(el.AppendXML(nil, NSServer)) {
			t.Fatalf("%d: size depends on the content namespace", i)
		}
		if size <= len(in) {
			t.Fatalf("%d: written in %d bytes, read from %d: not a test of the written size", i, size, len(in))
		}
		_, els, err := readAll(headerFor(NSClient)+in+streamEnd, Limits{MaxStanzaSize: size})
		if err != io.EOF || len(els) != 1 {
			t.Errorf("%d: limit %d, the written size: %v", i, size, err)
		}
		_, els, err = readAll(headerFor(NSClient)+in+streamEnd, Limits{MaxStanzaSize: size - 1})
		if got := condOf(err); got != "policy-violation" || len(els) != 0 {
			t.Errorf("%d: limit %d, one less than the written size: %s", i, size-1, got)
		}
	}

	// The amplification this prevents: 6 bytes read, 10 kB written, per
	// element.
	var b strings.Builder
	b.WriteString(`<message xmlns:u='urn:` + strings.Repeat("u", 10000) + `'><x xmlns='urn:x'>`)
	for i := 0; i < 2000; i++ {
		b.WriteString("<u:z/>")
	}
	b.WriteString(`</x></message>`)
	_, els, err := readAll(clientHeader+b.String()+streamEnd, Limits{})
	if got := condOf(err); got != "policy-violation" || len(els) != 0 {
		t.Errorf("%d bytes that write as %d MB: %s", b.Len(), 2000*10000>>20, got)
	}
}
