package xmppcore

import (
	"strings"
	"testing"
)

func TestAppendXML(t *testing.T) {
	withAttrs := func(e *Element, attrs ...Attr) *Element {
		e.Attrs = append(e.Attrs, attrs...)
		return e
	}
	for i, tc := range []struct {
		e         *Element
		contentNS string
		want      string
	}{
		0: {New("", "presence"), NSClient, `<presence/>`},
		1: {New("", "message", "to", "a@b", "type", "chat").Append(New("", "body").AppendText("hi")), NSClient,
			`<message to="a@b" type="chat"><body>hi</body></message>`},
		// An element explicitly in the content namespace says so.
		2: {New(NSClient, "message"), NSClient, `<message xmlns="jabber:client"/>`},
		// Same namespace as the parent: no declaration; another one: one.
		3: {New("urn:x", "x").Append(New("urn:x", "y"), New("urn:y", "z").Append(New("urn:y", "w"))), NSClient,
			`<x xmlns="urn:x"><y/><z xmlns="urn:y"><w/></z></x>`},
		// Content-namespace children of a foreign parent get the content
		// namespace back, whichever it is.
		4: {New("urn:xmpp:forward:0", "forwarded").Append(New("", "message").Append(New("", "body"))), NSClient,
			`<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"><body/></message></forwarded>`},
		5: {New("urn:xmpp:forward:0", "forwarded").Append(New("", "message").Append(New("", "body"))), NSServer,
			`<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:server"><body/></message></forwarded>`},
		6: {New("", "message").Append(New("", "body")), NSServer, `<message><body/></message>`},
		// Namespaced attributes: xml:* with the reserved prefix, others with a
		// prefix declared on the element, one per attribute.
		7: {withAttrs(New("", "body", "id", "1"),
			Attr{Space: NSXML, Local: "lang", Value: "en"},
			Attr{Space: "urn:p", Local: "x", Value: "1"},
			Attr{Space: "urn:q", Local: "x", Value: "2"},
		), NSClient,
			`<body id="1" xml:lang="en" xmlns:a0="urn:p" a0:x="1" xmlns:a1="urn:q" a1:x="2"/>`},
		// Prefixes are per element.
		8: {New("urn:x", "x").Append(withAttrs(New("urn:x", "y"), Attr{Space: "urn:p", Local: "k", Value: "v"})), NSClient,
			`<x xmlns="urn:x"><y xmlns:a0="urn:p" a0:k="v"/></x>`},
		// No content namespace at all: un-declared.
		9: {New("urn:x", "x").Append(New("", "y")), "", `<x xmlns="urn:x"><y xmlns=""/></x>`},
		// Mixed content, and an empty text node keeps the element open.
		10: {New("", "a").AppendText("x").Append(New("", "b")).AppendText("y"), NSClient, `<a>x<b/>y</a>`},
		11: {&Element{Local: "a", Nodes: []Node{{Text: ""}}}, NSClient, `<a></a>`},
	} {
		if got := string(tc.e.AppendXML(nil, tc.contentNS)); got != tc.want {
			t.Errorf("%d: AppendXML =\n%s\nwant\n%s", i, got, tc.want)
			continue
		}
		// And it reads back as the same tree in a stream with that content
		// namespace.
		back, err := parseOne(tc.want, tc.contentNS)
		if err != nil {
			t.Errorf("%d: re-parse: %v", i, err)
			continue
		}
		want := normalized(tc.e)
		if tc.e.Space == tc.contentNS {
			want.Space = "" // the reader folds the content namespace
		}
		if d := diffElem(want, back); d != "" {
			t.Errorf("%d: re-parsed tree differs: %s", i, d)
		}
	}
}

func TestAppendXMLAppends(t *testing.T) {
	b := []byte("<stream:stream>")
	b = New("", "a").AppendXML(b, NSClient)
	b = New("", "b").AppendXML(b, NSClient)
	if got, want := string(b), `<stream:stream><a/><b/>`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

const nasty = "a&b<c>d\"e'f\r\n\tg]]>h\r"

func TestEscaping(t *testing.T) {
	e := New("", "message", "v", nasty).AppendText(nasty)
	got := e.String()
	want := `<message v="a&amp;b&lt;c&gt;d&quot;e&apos;f&#xD;&#xA;&#x9;g]]&gt;h&#xD;">` +
		"a&amp;b&lt;c&gt;d\"e'f&#xD;\n\tg]]&gt;h&#xD;</message>"
	if got != want {
		t.Fatalf("String =\n%s\nwant\n%s", got, want)
	}
	if got, want := EscapeAttr(nasty), `a&amp;b&lt;c&gt;d&quot;e&apos;f&#xD;&#xA;&#x9;g]]&gt;h&#xD;`; got != want {
		t.Errorf("EscapeAttr = %s, want %s", got, want)
	}
	if got := EscapeAttr("plain ünïcode ☺"); got != "plain ünïcode ☺" {
		t.Errorf("EscapeAttr changed plain text: %s", got)
	}

	// Every character survives a round trip: \r is not turned into \n by
	// line-end handling, and \t, \n in the attribute are not normalized.
	back, err := parseOne(got, NSClient)
	if err != nil {
		t.Fatal(err)
	}
	if v := back.Attr("v"); v != nasty {
		t.Errorf("attribute read back as %q, want %q", v, nasty)
	}
	if txt := back.Text(); txt != nasty {
		t.Errorf("text read back as %q, want %q", txt, nasty)
	}
}

func TestRoundTrip(t *testing.T) {
	for i, in := range []string{
		0: `<message xmlns='jabber:client' to='romeo@example.net' from='juliet@example.com/balcony' id='ktx72v49' type='chat' xml:lang='en'>` +
			`<body>Art thou not Romeo, and a Montague?</body>` +
			`<active xmlns='http://jabber.org/protocol/chatstates'/>` +
			`<origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546014'/>` +
			`</message>`,
		1: `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>`,
		2: `<message><result xmlns='urn:xmpp:mam:2' id='x'><forwarded xmlns='urn:xmpp:forward:0'>` +
			`<delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>` +
			`<message xmlns='jabber:client' to='a@b' type='chat'><body>&lt;3 &amp; &#x263A;</body></message>` +
			`</forwarded></result></message>`,
		3: `<p:presence xmlns:p='jabber:client' xmlns:q='urn:q' q:attr='1' attr='2'><q:x><y xml:lang='de'>a<![CDATA[<b>]]>c</y></q:x>  </p:presence>`,
		4: `<message>` + "\n  <body>line one\r\nline two\ttab</body>\n" + `</message>`,
	} {
		first, err := parseOne(in, NSClient)
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		for _, ns := range []string{NSClient, NSServer} {
			out := first.AppendXML(nil, ns)
			second, err := parseOne(string(out), ns)
			if err != nil {
				t.Errorf("%d: re-parse of %s: %v", i, out, err)
				continue
			}
			if d := diffElem(first, second); d != "" {
				t.Errorf("%d (%s): %s\n%s", i, ns, d, out)
			}
			// Serialization is stable.
			if again := second.AppendXML(nil, ns); string(again) != string(out) {
				t.Errorf("%d: second serialization differs:\n%s\n%s", i, out, again)
			}
		}
	}
}

// A tree parsed from a client stream is written to a server stream without
// rewriting, and reads back there as the same tree.
func TestWriteServerStream(t *testing.T) {
	in := `<message to='a@remote.example' type='chat'><body>x</body>` +
		`<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>y</body></message></forwarded></message>`
	el, err := parseOne(in, NSClient)
	if err != nil {
		t.Fatal(err)
	}
	got := string(el.AppendXML(nil, NSServer))
	want := `<message to="a@remote.example" type="chat"><body>x</body>` +
		`<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:server"><body>y</body></message></forwarded></message>`
	if got != want {
		t.Errorf("server serialization =\n%s\nwant\n%s", got, want)
	}
	if !strings.HasPrefix(el.String(), `<message to="a@remote.example"`) {
		t.Errorf("client serialization = %s", el.String())
	}
}

func TestEscapedLen(t *testing.T) {
	for _, s := range []string{"", "plain", nasty, "&&&", "<>", `"'`, "\r\n\t", "ü&☺"} {
		for _, attr := range []bool{false, true} {
			if got, want := escapedLen(s, attr), len(appendEscaped(nil, s, attr)); got != want {
				t.Errorf("escapedLen(%q, %v) = %d, want %d", s, attr, got, want)
			}
		}
	}
}
