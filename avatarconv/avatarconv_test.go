package avatarconv_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0084 names images by SHA-1
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"parley.im/parley/avatarconv"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

func start(t *testing.T) (*xmpptest.Server, *module.Registry) {
	t.Helper()
	s := xmpptest.Start(t)
	reg := module.NewRegistry(module.Env{Router: s.Router(), Store: s.Store()})
	if err := reg.Add(avatarconv.New(s.Store())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = reg.Stop(ctx)
	})
	s.AddUser(t, "alice", "pw")
	return s, reg
}

func result(t *testing.T, c *xmpptest.Client, id string) *xmppcore.Element {
	t.Helper()
	el := c.Expect(func(el *xmppcore.Element) bool { return el.Local == "iq" && el.Attr("id") == id })
	if el.Attr("type") != "result" {
		t.Fatalf("%s: %s", id, el)
	}
	return el
}

const nsPubSub = "http://jabber.org/protocol/pubsub"

func items(t *testing.T, c *xmpptest.Client, node string) *xmppcore.Element {
	t.Helper()
	c.Send(`<iq type='get' id='items-` + node + `'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='` + node + `'/></pubsub></iq>`)
	return result(t, c, "items-"+node).Child(nsPubSub, "pubsub").Child(nsPubSub, "items")
}

func vcard(t *testing.T, c *xmpptest.Client) *xmppcore.Element {
	t.Helper()
	c.Send(`<iq type='get' id='vget'><vCard xmlns='vcard-temp'/></iq>`)
	return result(t, c, "vget").Child(avatarconv.NSVCard, "vCard")
}

var (
	image  = []byte("\x89PNG not really")
	b64    = base64.StdEncoding.EncodeToString(image)
	sum    = sha1.Sum(image) //nolint:gosec // see import
	imgSHA = hex.EncodeToString(sum[:])
)

func TestFeature(t *testing.T) {
	_, reg := start(t)
	for _, f := range reg.Features(module.Account) {
		if f == avatarconv.Feature {
			return
		}
	}
	t.Errorf("%s not advertised", avatarconv.Feature)
}

func TestVCardToPEPAndPresence(t *testing.T) {
	s, _ := start(t)
	c, _ := xmpptest.Login(t, s, "alice", "pw", "phone")
	c.Send(`<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>` +
		b64[:4] + "\n" + b64[4:] + `</BINVAL></PHOTO></vCard></iq>`)
	result(t, c, "v1")
	meta := items(t, c, avatarconv.NSMeta).FirstChild()
	if meta == nil || meta.Attr("id") != imgSHA {
		t.Fatalf("metadata: %v", meta)
	}
	info := meta.Child(avatarconv.NSMeta, "metadata").Child(avatarconv.NSMeta, "info")
	if info == nil || info.Attr("type") != "image/png" || info.Attr("bytes") != "15" {
		t.Errorf("info: %s", meta)
	}
	data := items(t, c, avatarconv.NSData).FirstChild()
	if data == nil || data.Attr("id") != imgSHA || data.ChildText(avatarconv.NSData, "data") != b64 {
		t.Errorf("data: %v", data)
	}

	// The presence of another session carries the hash.
	c2, _ := xmpptest.Login(t, s, "alice", "pw", "laptop")
	c2.Send(`<presence/>`)
	// Available once its own presence comes back.
	c2.Expect(func(el *xmppcore.Element) bool {
		return el.Local == "presence" && el.Attr("from") == "alice@localhost/laptop"
	})
	c.Send(`<presence><x xmlns='vcard-temp:x:update'><photo/></x></presence>`)
	p := c2.Expect(func(el *xmppcore.Element) bool {
		return el.Local == "presence" && el.Attr("from") == "alice@localhost/phone"
	})
	if got := p.Child(avatarconv.NSUpdate, "x").ChildText(avatarconv.NSUpdate, "photo"); got != imgSHA {
		t.Errorf("presence: %s", p)
	}

	// A vCard without photo disables the avatar.
	c.Send(`<iq type='set' id='v2'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`)
	result(t, c, "v2")
	if m := items(t, c, avatarconv.NSMeta); m.FirstChild().Child(avatarconv.NSMeta, "metadata").ChildCount() != 0 {
		t.Errorf("metadata after removal: %s", m)
	}
}

func TestPEPToVCard(t *testing.T) {
	s, _ := start(t)
	c, _ := xmpptest.Login(t, s, "alice", "pw", "phone")
	c.Send(`<iq type='set' id='v0'><vCard xmlns='vcard-temp'><FN>Alice</FN></vCard></iq>`)
	result(t, c, "v0")
	c.Send(`<iq type='set' id='d1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'><item id='` + imgSHA +
		`'><data xmlns='urn:xmpp:avatar:data'>` + b64 + `</data></item></publish></pubsub></iq>`)
	result(t, c, "d1")
	c.Send(`<iq type='set' id='m1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='` + imgSHA +
		`'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='15' id='` + imgSHA + `' type='image/jpeg'/></metadata></item></publish></pubsub></iq>`)
	result(t, c, "m1")
	v := vcard(t, c)
	if v.ChildText(avatarconv.NSVCard, "FN") != "Alice" {
		t.Errorf("vCard lost its FN: %s", v)
	}
	ph := v.Child(avatarconv.NSVCard, "PHOTO")
	if ph == nil || ph.ChildText(avatarconv.NSVCard, "BINVAL") != b64 || ph.ChildText(avatarconv.NSVCard, "TYPE") != "image/jpeg" {
		t.Fatalf("vCard: %s", v)
	}

	c.Send(`<iq type='set' id='m2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='current'>` +
		`<metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish></pubsub></iq>`)
	result(t, c, "m2")
	if v := vcard(t, c); v.Child(avatarconv.NSVCard, "PHOTO") != nil || v.ChildText(avatarconv.NSVCard, "FN") != "Alice" {
		t.Errorf("vCard after disabling: %s", v)
	}
}
