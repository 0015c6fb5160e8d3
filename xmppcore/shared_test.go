package xmppcore

import "testing"

func TestShareContent(t *testing.T) {
	tmpl := New("", Message, "from", "room@conference.example/nick", "type", "groupchat").
		Append(New("", "body").AppendText("hi & <bye>"), New("urn:xmpp:sid:0", "stanza-id", "id", "1"))
	want := func(to string) string {
		c := tmpl.Clone()
		c.SetAttr("to", to)
		return string(c.AppendXML(nil, NSClient))
	}
	tmpl.ShareContent()
	for _, to := range []string{"a@example/1", "b@example/2"} {
		c := tmpl.ShallowClone()
		c.SetAttr("to", to)
		if got := string(c.AppendXML(nil, NSClient)); got != want(to) {
			t.Fatalf("shared copy for %s:\n got %s\nwant %s", to, got, want(to))
		}
		var byHand Element
		byHand.Space, byHand.Local, byHand.Nodes = tmpl.Space, tmpl.Local, tmpl.Nodes
		byHand.Attrs = append(append([]Attr(nil), tmpl.Attrs...), Attr{Local: "to", Value: to})
		byHand.ShareContentOf(tmpl)
		if got := string(byHand.AppendXML(nil, NSClient)); got != want(to) {
			t.Fatalf("hand-made copy for %s: %s", to, got)
		}
	}
	// Another content namespace is written in full, not from the cache.
	c := tmpl.ShallowClone()
	if got := string(c.AppendXML(nil, NSServer)); got != string(tmpl.Clone().AppendXML(nil, NSServer)) {
		t.Fatalf("jabber:server copy: %s", got)
	}
	// A copy whose content changes no longer uses the shared bytes.
	d := tmpl.ShallowClone().Append(New("urn:example", "extra"))
	if got := d.String(); got == tmpl.String() || d.Child("urn:example", "extra") == nil {
		t.Fatalf("a copy with an extra child was written as the template: %s", got)
	}
	if got, want := d.String(), d.Clone().String(); got != want {
		t.Fatalf("changed copy: %s, want %s", got, want)
	}
}
