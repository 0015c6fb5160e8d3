package bookmarks

import (
	"mellium.im/xmpp/jid"

	"parley.im/parley/xmppcore"
)

// conference is one bookmarked room, in the terms both formats share.
type conference struct {
	JID      string
	Name     string
	Autojoin bool
	Nick     string
	Password string
	// Extensions is the native <extensions/> element, kept across
	// conversions through the legacy formats, which have no place for it.
	Extensions *xmppcore.Element
}

func xmlBool(s string) bool { return s == "true" || s == "1" }

// parseLegacy reads the rooms of a <storage xmlns='storage:bookmarks'/>,
// skipping those without a valid JID and the repeats of a JID.
func parseLegacy(s *xmppcore.Element) []conference {
	var out []conference
	seen := make(map[string]bool)
	for c := range s.Children() {
		if !c.Is(NSLegacy, "conference") {
			continue
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
			continue
		}
		id := j.String()
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, conference{JID: id, Name: c.Attr("name"), Autojoin: xmlBool(c.Attr("autojoin")),
			Nick: c.ChildText(NSLegacy, "nick"), Password: c.ChildText(NSLegacy, "password")})
	}
	return out
}

// fromNative reads a native bookmark, item id being the room's JID.
func fromNative(id string, el *xmppcore.Element) conference {
	c := conference{JID: id, Name: el.Attr("name"), Autojoin: xmlBool(el.Attr("autojoin")),
		Nick: el.ChildText(NS, "nick"), Password: el.ChildText(NS, "password")}
	if x := el.Child(NS, "extensions"); x != nil {
		c.Extensions = x.Clone()
	}
	return c
}

func (c conference) native() *xmppcore.Element {
	el := xmppcore.New(NS, "conference")
	if c.Name != "" {
		el.SetAttr("name", c.Name)
	}
	if c.Autojoin {
		el.SetAttr("autojoin", "true")
	}
	if c.Nick != "" {
		el.Append(xmppcore.New(NS, "nick").AppendText(c.Nick))
	}
	if c.Password != "" {
		el.Append(xmppcore.New(NS, "password").AppendText(c.Password))
	}
	if c.Extensions != nil {
		el.Append(c.Extensions.Clone())
	}
	return el
}

func (c conference) legacy() *xmppcore.Element {
	el := xmppcore.New(NSLegacy, "conference", "jid", c.JID)
	if c.Name != "" {
		el.SetAttr("name", c.Name)
	}
	if c.Autojoin {
		el.SetAttr("autojoin", "true")
	}
	if c.Nick != "" {
		el.Append(xmppcore.New(NSLegacy, "nick").AppendText(c.Nick))
	}
	if c.Password != "" {
		el.Append(xmppcore.New(NSLegacy, "password").AppendText(c.Password))
	}
	return el
}
