package xmppcore

import (
	"slices"
	"testing"
)

func TestNew(t *testing.T) {
	for i, tc := range []struct {
		attrs []string
		want  []Attr
	}{
		{nil, nil},
		{[]string{"to"}, nil}, // a lone name is ignored
		{[]string{"to", "a@b"}, []Attr{{Local: "to", Value: "a@b"}}},
		{[]string{"to", "a@b", "type", "chat", "id"}, []Attr{{Local: "to", Value: "a@b"}, {Local: "type", Value: "chat"}}},
		{[]string{"x", ""}, []Attr{{Local: "x", Value: ""}}},
	} {
		e := New("urn:x", "q", tc.attrs...)
		if e.Space != "urn:x" || e.Local != "q" || e.Nodes != nil {
			t.Errorf("%d: New gave %#v", i, e)
		}
		if !slices.Equal(e.Attrs, tc.want) {
			t.Errorf("%d: attrs %q, want %q", i, e.Attrs, tc.want)
		}
	}
}

func TestIs(t *testing.T) {
	e := New("urn:x", "q")
	for i, tc := range []struct {
		e            *Element
		space, local string
		want         bool
	}{
		{e, "urn:x", "q", true},
		{e, "", "q", false},
		{e, "urn:x", "Q", false},
		{e, "urn:y", "q", false},
		{nil, "", "", false},
		{New("", "message"), "", "message", true},
		{New("", "message"), NSClient, "message", false},
	} {
		if got := tc.e.Is(tc.space, tc.local); got != tc.want {
			t.Errorf("%d: Is(%q, %q) = %v", i, tc.space, tc.local, got)
		}
	}
}

func TestAttrs(t *testing.T) {
	e := New("", "message", "to", "romeo@example.net", "empty", "")
	e.Attrs = append(e.Attrs,
		Attr{Space: NSXML, Local: "lang", Value: "de"},
		Attr{Space: "urn:x", Local: "to", Value: "namespaced"})

	for i, tc := range []struct {
		space, local string
		val          string
		ok           bool
	}{
		{"", "to", "romeo@example.net", true},
		{"", "empty", "", true},
		{"", "missing", "", false},
		{NSXML, "lang", "de", true},
		{"", "lang", "", false},
		{"urn:x", "to", "namespaced", true},
		{"urn:y", "to", "", false},
	} {
		v, ok := e.LookupAttr(tc.space, tc.local)
		if v != tc.val || ok != tc.ok {
			t.Errorf("%d: LookupAttr(%q, %q) = %q, %v; want %q, %v", i, tc.space, tc.local, v, ok, tc.val, tc.ok)
		}
		if tc.space == "" {
			if got := e.Attr(tc.local); got != tc.val {
				t.Errorf("%d: Attr(%q) = %q, want %q", i, tc.local, got, tc.val)
			}
		}
	}
	if got := e.Lang(); got != "de" {
		t.Errorf("Lang = %q", got)
	}
	if got := New("", "x", "lang", "fr").Lang(); got != "" {
		t.Errorf("Lang of an element with an unqualified lang attribute = %q", got)
	}

	// SetAttr replaces the unqualified attribute in place and leaves the
	// namespaced one with the same local name alone.
	e.SetAttr("to", "juliet@example.com")
	e.SetAttr("id", "x1")
	want := []Attr{
		{Local: "to", Value: "juliet@example.com"},
		{Local: "empty"},
		{Space: NSXML, Local: "lang", Value: "de"},
		{Space: "urn:x", Local: "to", Value: "namespaced"},
		{Local: "id", Value: "x1"},
	}
	if !slices.Equal(e.Attrs, want) {
		t.Fatalf("after SetAttr: %q\nwant %q", e.Attrs, want)
	}

	// RemoveAttr removes only the unqualified one and keeps the order.
	e.RemoveAttr("to")
	e.RemoveAttr("lang")    // qualified: stays
	e.RemoveAttr("missing") // no-op
	want = []Attr{
		{Local: "empty"},
		{Space: NSXML, Local: "lang", Value: "de"},
		{Space: "urn:x", Local: "to", Value: "namespaced"},
		{Local: "id", Value: "x1"},
	}
	if !slices.Equal(e.Attrs, want) {
		t.Fatalf("after RemoveAttr: %q\nwant %q", e.Attrs, want)
	}
	e.RemoveAttr("id")
	e.RemoveAttr("empty")
	if len(e.Attrs) != 2 || e.Attrs[0].Local != "lang" || e.Attrs[1].Space != "urn:x" {
		t.Fatalf("after removing all: %q", e.Attrs)
	}
}

// tree returns
//
//	<message to='a'>hello <body>one</body><x xmlns='urn:x'><y/></x> world<body>two</body></message>
func tree() *Element {
	m := New("", "message", "to", "a")
	m.AppendText("hello ")
	m.Append(New("", "body").AppendText("one"))
	m.Append(New("urn:x", "x").Append(New("urn:x", "y")))
	m.AppendText(" world")
	m.Append(New("", "body").AppendText("two"))
	return m
}

func TestChildren(t *testing.T) {
	m := tree()
	var names []string
	for c := range m.Children() {
		names = append(names, c.Local)
	}
	if want := []string{"body", "x", "body"}; !slices.Equal(names, want) {
		t.Errorf("Children: %q, want %q", names, want)
	}
	// Breaking out of the loop must stop the iteration (a yield after
	// false would panic).
	n := 0
	for c := range m.Children() {
		n++
		if c.Local == "x" {
			break
		}
	}
	if n != 2 {
		t.Errorf("iteration with break visited %d children", n)
	}
	for range New("", "empty").Children() {
		t.Error("an empty element has children")
	}

	if got := m.ChildCount(); got != 3 {
		t.Errorf("ChildCount = %d", got)
	}
	if got := m.FirstChild(); got != m.Nodes[1].Elem {
		t.Errorf("FirstChild = %v (skipping text)", got)
	}
	if got := New("", "x").AppendText("t").FirstChild(); got != nil {
		t.Errorf("FirstChild of a text-only element = %v", got)
	}
	if got := m.Child("", "body"); got != m.Nodes[1].Elem {
		t.Errorf("Child(body) = %v, want the first body", got)
	}
	if got := m.Child("urn:x", "x"); got != m.Nodes[2].Elem {
		t.Errorf("Child(urn:x x) = %v", got)
	}
	if got := m.Child("", "x"); got != nil {
		t.Errorf("Child in the wrong namespace = %v", got)
	}
	if got := m.ChildText("", "body"); got != "one" {
		t.Errorf("ChildText(body) = %q", got)
	}
	if got := m.ChildText("", "missing"); got != "" {
		t.Errorf("ChildText(missing) = %q", got)
	}
	if got := m.ChildText("urn:x", "x"); got != "" {
		t.Errorf("ChildText of an element without text = %q", got)
	}
}

func TestText(t *testing.T) {
	for i, tc := range []struct {
		e    *Element
		want string
	}{
		{New("", "a"), ""},
		{New("", "a").AppendText(""), ""},
		{New("", "a").AppendText("x"), "x"},
		{New("", "a").AppendText("x").AppendText("y"), "xy"},
		{New("", "a").Append(New("", "b").AppendText("inner")), ""},
		{tree(), "hello  world"},
		{New("", "a").Append(New("", "b")).AppendText("only"), "only"},
	} {
		if got := tc.e.Text(); got != tc.want {
			t.Errorf("%d: Text = %q, want %q", i, got, tc.want)
		}
	}
	if n := len(New("", "a").AppendText("").Nodes); n != 0 {
		t.Errorf("AppendText(\"\") added %d nodes", n)
	}
}

func TestClone(t *testing.T) {
	if (*Element)(nil).Clone() != nil {
		t.Fatal("Clone of nil is not nil")
	}
	orig := tree()
	orig.Attrs = append(orig.Attrs, Attr{Space: NSXML, Local: "lang", Value: "en"})
	before := orig.String()

	c := orig.Clone()
	if d := diffElem(orig, c); d != "" {
		t.Fatalf("clone differs: %s", d)
	}
	if c == orig || c.Nodes[1].Elem == orig.Nodes[1].Elem || c.Nodes[2].Elem.Nodes[0].Elem == orig.Nodes[2].Elem.Nodes[0].Elem {
		t.Fatal("clone shares elements")
	}

	// Mutate the clone in every way possible.
	c.SetAttr("to", "b")
	c.Attrs[1].Value = "fr"
	c.RemoveAttr("to")
	c.Nodes[0].Text = "bye "
	c.Nodes[1].Elem.Nodes[0].Text = "changed"
	c.Nodes[1].Elem.SetAttr("new", "1")
	c.Nodes[2].Elem.Nodes[0].Elem.Local = "z"
	c.Nodes[2].Elem.Append(New("", "more"))
	c.Append(New("", "extra"))
	c.AppendText("tail")

	if after := orig.String(); after != before {
		t.Errorf("mutating the clone changed the original:\n%s\n%s", before, after)
	}
	want := tree()
	want.Attrs = append(want.Attrs, Attr{Space: NSXML, Local: "lang", Value: "en"})
	if d := diffElem(orig, want); d != "" {
		t.Errorf("original changed: %s", d)
	}
}

func TestShallowClone(t *testing.T) {
	orig := tree()
	before := orig.String()
	c := orig.ShallowClone()
	if c.Space != orig.Space || c.Local != orig.Local || !slices.Equal(c.Attrs, orig.Attrs) {
		t.Fatalf("shallow clone %v", c)
	}
	if len(c.Nodes) != len(orig.Nodes) || c.Nodes[1].Elem != orig.Nodes[1].Elem {
		t.Fatal("shallow clone does not share its children")
	}
	c.SetAttr("to", "b")
	c.SetAttr("from", "c")
	c.RemoveAttr("to")
	if got := orig.String(); got != before {
		t.Errorf("changing the clone's attributes changed the original:\n%s\n%s", before, got)
	}
	if got, want := c.String(), `<message from="c">hello <body>one</body><x xmlns="urn:x"><y/></x> world<body>two</body></message>`; got != want {
		t.Errorf("clone = %s\nwant   %s", got, want)
	}
}

// Two shallow clones of one routed stanza, each given its own extra child
// (a <delay/> for one resource, a <carbon/> for another), must not see each
// other's child through the shared node slice.
func TestShallowCloneAppend(t *testing.T) {
	orig := New("", "message")
	for i := 0; i < 3; i++ { // leaves spare capacity in Nodes
		orig.Append(New("", "body"))
	}
	if cap(orig.Nodes) == len(orig.Nodes) {
		t.Fatal("test needs spare capacity")
	}
	a := orig.ShallowClone().Append(New("urn:xmpp:delay", "delay"))
	b := orig.ShallowClone().Append(New("urn:xmpp:carbons:2", "sent"))
	if got := a.Nodes[3].Elem.Local; got != "delay" {
		t.Errorf("first clone's added child is now %q", got)
	}
	if got := b.Nodes[3].Elem.Local; got != "sent" {
		t.Errorf("second clone's added child is %q", got)
	}
	if len(orig.Nodes) != 3 {
		t.Errorf("original has %d nodes", len(orig.Nodes))
	}
	if got := New("", "x").ShallowClone(); got.Nodes != nil || len(got.Attrs) != 0 {
		t.Errorf("shallow clone of an empty element: %#v", got)
	}
}

func TestString(t *testing.T) {
	got := tree().String()
	want := `<message to="a">hello <body>one</body><x xmlns="urn:x"><y/></x> world<body>two</body></message>`
	if got != want {
		t.Errorf("String =\n%s\nwant\n%s", got, want)
	}
}
