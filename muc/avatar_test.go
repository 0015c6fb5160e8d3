package muc

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"parley.im/parley/internal/routertest"
)

// avatar is a vCard with one photo of img, and the XEP-0153 hash of img.
func avatar(img string) (vcard, hash string) {
	sum := sha1.Sum([]byte(img))
	return fmt.Sprintf(`<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard>`,
		base64.StdEncoding.EncodeToString([]byte(img))), hex.EncodeToString(sum[:])
}

// avatarHashesOf returns the muc#roominfo_avatarhash values of the room's
// disco#info, as s sees them, and checks the vcard-temp feature.
func (e *env) avatarHashesOf(s *routertest.Session, roomJID string) []string {
	e.t.Helper()
	info := e.iq(s, roomJID, "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	q := info.FirstChild()
	if q == nil {
		e.t.Fatalf("disco#info: %s", info)
	}
	if !strings.Contains(q.String(), `var="vcard-temp"`) {
		e.t.Errorf("no vcard-temp feature in %s", q)
	}
	return formValues(q.Child(NSData, "x"))[fAvatarHash]
}

const (
	emptyVCard = `<vCard xmlns='vcard-temp'/>`
	notify104  = `<message from='coven@conference.example.org' to='%s' type='groupchat' id='*'><x xmlns='http://jabber.org/protocol/muc#user'><status code='104'/></x></message>`
)

// TestRoomAvatar is XEP-0486 with XEP-0054 on the room's JID: anyone gets
// the vCard (empty without one), only owners set it, within the size
// limit and with decodable photos; the hash is in disco#info, and
// occupants get a 104 when it changes.
func TestRoomAvatar(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	carol := e.bind("carol@example.org/tab") // not in the room

	// No avatar yet.
	expect(t, carol)
	if got := e.iq(carol, coven, "get", emptyVCard); match(got, parse(t,
		`<iq type='result' id='q' from='coven@conference.example.org' to='carol@example.org/tab'>`+emptyVCard+`</iq>`)) != "" {
		t.Errorf("get without avatar: %s", got)
	}
	if h := e.avatarHashesOf(bob, coven); h != nil {
		t.Errorf("hashes without avatar: %v", h)
	}

	// Not an owner.
	vc, hash := avatar("\x89PNG\r\n\x1a\nthe cauldron")
	e.send(bob, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, vc)
	got := bob.Take()
	if len(got) != 1 || got[0].Attr("type") != "error" ||
		!strings.Contains(got[0].String(), "<forbidden") {
		t.Fatalf("member setting the vCard: %s", list(got))
	}
	expectNothing(t, alice, carol)

	// The owner sets it: everyone present hears of a configuration change.
	e.send(alice, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, vc)
	expect(t, alice, result(coven, alicePhone, "v"), fmt.Sprintf(notify104, alicePhone))
	expect(t, bob, fmt.Sprintf(notify104, bobPC))
	expectNothing(t, carol)
	want := `<iq type='result' id='q' from='coven@conference.example.org' to='carol@example.org/tab'>` + vc + `</iq>`
	if got := e.iq(carol, coven, "get", emptyVCard); match(got, parse(t, want)) != "" {
		t.Errorf("get:\n got %s\nwant %s", got, want)
	}
	if h := e.avatarHashesOf(carol, coven); !slices.Equal(h, []string{hash}) {
		t.Errorf("hashes %v, want %s", h, hash)
	}

	// The same again changes nothing, so tells nothing.
	e.send(alice, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, vc)
	expect(t, alice, result(coven, alicePhone, "v"))
	expectNothing(t, bob)

	// Too large, or not base64: refused, the avatar stays.
	big := fmt.Sprintf(`<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>`, strings.Repeat("x", maxRoomVCard))
	e.send(alice, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, big)
	got = alice.Take()
	if len(got) != 1 || got[0].Attr("type") != "error" || !strings.Contains(got[0].String(), "<not-acceptable") {
		t.Errorf("vCard too large: %s", list(got))
	}
	e.send(alice, `<iq type='set' id='v' to='%s'><vCard xmlns='vcard-temp'><PHOTO><BINVAL>*not base64*</BINVAL></PHOTO></vCard></iq>`, coven)
	got = alice.Take()
	if len(got) != 1 || !strings.Contains(got[0].String(), "<bad-request") {
		t.Errorf("undecodable photo: %s", list(got))
	}
	expectNothing(t, bob)
	if h := e.avatarHashesOf(bob, coven); !slices.Equal(h, []string{hash}) {
		t.Errorf("hashes after refusals %v, want %s", h, hash)
	}

	// Two photos (XEP-0486 §5.1): both hashes; the BINVAL may be folded.
	png, svg := "png image", "<svg/>"
	sumP, sumS := sha1.Sum([]byte(png)), sha1.Sum([]byte(svg))
	b64 := base64.StdEncoding.EncodeToString([]byte(svg))
	two := fmt.Sprintf(`<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>`+
		`<PHOTO><TYPE>image/svg+xml</TYPE><BINVAL>%s
%s</BINVAL></PHOTO></vCard>`, base64.StdEncoding.EncodeToString([]byte(png)), b64[:4], b64[4:])
	e.send(alice, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, two)
	expect(t, alice, result(coven, alicePhone, "v"), fmt.Sprintf(notify104, alicePhone))
	expect(t, bob, fmt.Sprintf(notify104, bobPC))
	if h, w := e.avatarHashesOf(bob, coven), []string{hex.EncodeToString(sumP[:]), hex.EncodeToString(sumS[:])}; !slices.Equal(h, w) {
		t.Errorf("hashes %v, want %v", h, w)
	}

	// An empty vCard removes the avatar.
	e.send(alice, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, emptyVCard)
	expect(t, alice, result(coven, alicePhone, "v"), fmt.Sprintf(notify104, alicePhone))
	expect(t, bob, fmt.Sprintf(notify104, bobPC))
	if got := e.iq(bob, coven, "get", emptyVCard); got.FirstChild() == nil || got.FirstChild().ChildCount() != 0 {
		t.Errorf("get after removal: %s", got)
	}
	if h := e.avatarHashesOf(bob, coven); h != nil {
		t.Errorf("hashes after removal: %v", h)
	}

	// A get with content is malformed.
	if got := e.iq(bob, coven, "get", `<vCard xmlns='vcard-temp'><FN/></vCard>`); !strings.Contains(got.String(), "<bad-request") {
		t.Errorf("get with content: %s", got)
	}
}

// TestRoomAvatarStored: a persistent room keeps its vCard across a
// restart; a storage failure refuses the change and keeps the old one.
func TestRoomAvatarStored(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fPersistent, "1")
	vc, hash := avatar("stored image")
	e.send(alice, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, vc)
	expect(t, alice, result(coven, alicePhone, "v"), fmt.Sprintf(notify104, alicePhone))

	e.store.fail(true)
	other, _ := avatar("lost image")
	e.send(alice, `<iq type='set' id='v' to='%s'>%s</iq>`, coven, other)
	expect(t, alice, errStanza("iq", coven, alicePhone, "v", "cancel", "internal-server-error"))
	e.store.fail(false)

	e.restart()
	bob := e.bind(bobPC)
	want := `<iq type='result' id='q' from='coven@conference.example.org' to='bob@example.org/pc'>` + vc + `</iq>`
	if got := e.iq(bob, coven, "get", emptyVCard); match(got, parse(t, want)) != "" {
		t.Errorf("after restart:\n got %s\nwant %s", got, want)
	}
	if h := e.avatarHashesOf(bob, coven); !slices.Equal(h, []string{hash}) {
		t.Errorf("hashes after restart %v, want %s", h, hash)
	}

	// Other configuration changes keep it.
	alice = e.bind(alicePhone)
	e.enter(alice, "owner")
	e.configure(alice, coven, "", fRoomName, "Cave")
	e.restart()
	bob = e.bind(bobPC)
	if h := e.avatarHashesOf(bob, coven); !slices.Equal(h, []string{hash}) {
		t.Errorf("hashes after reconfiguration %v, want %s", h, hash)
	}
}
