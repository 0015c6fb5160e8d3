package mam

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/offline"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// TestArchivesBothParties: a message between two local users is archived
// once in each archive; the recipient gets the stanza-id of their own
// archive, and the sender's stanza-id never reaches the recipient.
func TestArchivesBothParties(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='m1'><body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>`)
	got := e.alice.TakeOne(t)
	id := stanzaID(t, got, "alice@example.org")
	if id == "" {
		t.Fatalf("no stanza-id by alice in %s", got)
	}
	if bobs := stanzaID(t, got, "bob@example.org"); bobs != "" {
		t.Errorf("the recipient sees the sender's stanza-id: %s", got)
	}
	routertest.AssertXML(t, got, `<message from='bob@example.org/home' to='alice@example.org' type='chat' id='m1'>
		<body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>
		<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='`+id+`'/></message>`)

	in := e.archive(t, "alice")
	if len(in) != 1 {
		t.Fatalf("alice's archive has %d entries, want 1", len(in))
	}
	a := in[0]
	if a.ID != id || a.With != "bob@example.org" || a.WithResource != "home" || a.Direction != storage.ArchiveIncoming ||
		a.OriginID != "o1" || !a.Stamp.Equal(t0.Add(time.Second)) {
		t.Errorf("alice's entry: %+v", a)
	}
	// The stored stanza is the message as received, without the stanza-id.
	if s := string(a.Stanza); strings.Contains(s, "stanza-id") || !strings.Contains(s, "<body>hi</body>") {
		t.Errorf("stored stanza: %s", s)
	}

	out := e.archive(t, "bob")
	if len(out) != 1 {
		t.Fatalf("bob's archive has %d entries, want 1", len(out))
	}
	b := out[0]
	if b.ID == id || b.With != "alice@example.org" || b.WithResource != "" || b.Direction != storage.ArchiveOutgoing ||
		b.OriginID != "o1" {
		t.Errorf("bob's entry: %+v", b)
	}
	if s := string(b.Stanza); strings.Contains(s, "stanza-id") || !strings.Contains(s, `from="bob@example.org/home"`) {
		t.Errorf("stored stanza: %s", s)
	}
}

// TestSenderStanzaIDOnlyDuringPreRoute: pre-route hooks that run after
// archiving (carbons) see the sender's stanza-id; what leaves does not
// carry it, to a local or a remote addressee.
func TestSenderStanzaIDOnlyDuringPreRoute(t *testing.T) {
	e := setup(t, Options{})
	var seen []*xmppcore.Element
	e.r.Hook(router.EventPreRoute, router.PriorityDefault, func(_ context.Context, st *router.Stanza) bool {
		seen = append(seen, st.El)
		return false
	})
	e.send(t, e.bob, `<message to='carol@example.net/x' type='chat' id='r1'><body>far</body></message>`)
	if len(seen) != 1 || stanzaID(t, seen[0], "bob@example.org") == "" {
		t.Fatalf("pre-route hook saw %v, want the message with bob's stanza-id", seen)
	}
	out := e.archive(t, "bob")
	if len(out) != 1 || out[0].ID != stanzaID(t, seen[0], "bob@example.org") || out[0].With != "carol@example.net" ||
		out[0].WithResource != "x" {
		t.Fatalf("bob's archive: %+v", out)
	}
	sent := e.remote.Got()
	if len(sent) != 1 {
		t.Fatalf("remote got %d stanzas", len(sent))
	}
	routertest.AssertXML(t, sent[0].El, `<message from='bob@example.org/home' to='carol@example.net/x' type='chat' id='r1'><body>far</body></message>`)
}

// TestForgedStanzaIDs: stanza-ids 'by' the archiving account are removed
// (XEP-0359 §4 rule 2), whether or not the message is archived; others
// stay.
func TestForgedStanzaIDs(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='f1'><body>x</body>
		<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='forged'/>
		<stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.org' id='forged-too'/>
		<stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='kept'/></message>`)
	got := e.alice.TakeOne(t)
	id := stanzaID(t, got, "alice@example.org")
	if id == "" || id == "forged" {
		t.Fatalf("stanza-id by alice: %q in %s", id, got)
	}
	if stanzaID(t, got, "bob@example.org") != "" || stanzaID(t, got, "room@conference.example.org") != "kept" {
		t.Errorf("delivered: %s", got)
	}
	// Each archive drops the stanza-ids by its owner; a stanza-id by
	// alice in bob's outgoing message is only content to bob's archive.
	for _, en := range e.archive(t, "alice") {
		if strings.Contains(string(en.Stanza), `id="forged"`) {
			t.Errorf("alice's archive keeps a forged stanza-id: %s", en.Stanza)
		}
	}
	for _, en := range e.archive(t, "bob") {
		if strings.Contains(string(en.Stanza), "forged-too") {
			t.Errorf("bob's archive keeps a stanza-id by bob: %s", en.Stanza)
		}
	}

	// Not archived (a chat state), still cleaned.
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='f2'><active xmlns='http://jabber.org/protocol/chatstates'/>
		<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='forged'/></message>`)
	got = e.alice.TakeOne(t)
	if stanzaID(t, got, "alice@example.org") != "" {
		t.Errorf("forged stanza-id delivered: %s", got)
	}
	// To a full JID, likewise.
	e.send(t, e.bob, `<message to='alice@example.org/laptop' type='chat' id='f3'><body>y</body>
		<stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.org' id='forged'/></message>`)
	got = e.laptop.TakeOne(t)
	if id := stanzaID(t, got, "alice@example.org"); id == "" || id == "forged" {
		t.Errorf("to a full JID: %s", got)
	}
}

func TestWhatIsArchived(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      bool
	}{
		{"chat with body", `<message to='alice@example.org' type='chat'><body>b</body></message>`, true},
		{"normal with body", `<message to='alice@example.org'><body>b</body></message>`, true},
		{"unknown type", `<message to='alice@example.org' type='odd'><body>b</body></message>`, true},
		{"headline", `<message to='alice@example.org' type='headline'><body>b</body></message>`, false},
		{"groupchat", `<message to='alice@example.org/phone' type='groupchat'><body>b</body></message>`, false},
		{"error", `<message to='alice@example.org/phone' type='error'><body>b</body></message>`, false},
		{"chat state", `<message to='alice@example.org' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{"empty", `<message to='alice@example.org' type='chat'/>`, false},
		{"pubsub event", `<message to='alice@example.org'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>`, false},
		{"no-store", `<message to='alice@example.org' type='chat'><body>b</body><no-store xmlns='urn:xmpp:hints'/></message>`, false},
		{"no-permanent-store", `<message to='alice@example.org' type='chat'><body>b</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, false},
		{"store and no-permanent-store", `<message to='alice@example.org' type='chat'><body>b</body><store xmlns='urn:xmpp:hints'/><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, false},
		{"store", `<message to='alice@example.org' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/></message>`, true},
		{"store on headline", `<message to='alice@example.org' type='headline'><body>b</body><store xmlns='urn:xmpp:hints'/></message>`, false},
		{"OMEMO", `<message to='alice@example.org' type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AA==</payload></encrypted></message>`, true},
		{"OMEMO 2", `<message to='alice@example.org' type='chat'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, true},
		{"receipt", `<message to='alice@example.org' type='chat'><received xmlns='urn:xmpp:receipts' id='x'/></message>`, true},
		{"displayed marker", `<message to='alice@example.org' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`, true},
		{"markable only", `<message to='alice@example.org' type='chat'><markable xmlns='urn:xmpp:chat-markers:0'/></message>`, false},
		{"call proposal", `<message to='alice@example.org' type='chat'><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>`, true},
		{"reaction", `<message to='alice@example.org' type='chat'><reactions xmlns='urn:xmpp:reactions:0' id='x'/></message>`, true},
		{"retraction", `<message to='alice@example.org' type='chat'><retract xmlns='urn:xmpp:message-retract:1' id='x'/></message>`, true},
		{"direct invitation", `<message to='alice@example.org'><x xmlns='jabber:x:conference' jid='r@conference.example.org'/></message>`, true},
		{"mediated invitation", `<message to='alice@example.org'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@example.org'/></x></message>`, true},
		{"muc user x alone", `<message to='alice@example.org'><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, Options{})
			e.send(t, e.bob, tc.msg)
			n := 0
			if tc.want {
				n = 1
			}
			if got := len(e.archive(t, "alice")); got != n {
				t.Errorf("alice's archive: %d entries, want %d", got, n)
			}
			if got := len(e.archive(t, "bob")); got != n {
				t.Errorf("bob's archive: %d entries, want %d", got, n)
			}
			for _, s := range []*routertest.Session{e.alice, e.laptop} {
				for _, el := range s.Take() {
					if el.Attr("type") == "error" {
						continue
					}
					if has := stanzaID(t, el, "alice@example.org") != ""; has != tc.want {
						t.Errorf("delivered with stanza-id %v, want %v: %s", has, tc.want, el)
					}
				}
			}
		})
	}
}

// TestToSelf: a message to one's own account is archived once, as
// received, whatever way it is addressed.
func TestToSelf(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.laptop, `<message type='chat' id='s1'><body>no to</body></message>`)
	e.send(t, e.laptop, `<message to='alice@example.org' type='chat' id='s2'><body>bare</body></message>`)
	e.send(t, e.laptop, `<message to='alice@example.org/phone' type='chat' id='s3'><body>full</body></message>`)
	got := e.alice.Take()
	if len(got) != 3 {
		t.Fatalf("phone got %d messages", len(got))
	}
	entries := e.archive(t, "alice")
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3", len(entries))
	}
	for i, en := range entries {
		if en.Direction != storage.ArchiveIncoming || en.With != "alice@example.org" || en.WithResource != "laptop" ||
			stanzaID(t, got[i], "alice@example.org") != en.ID {
			t.Errorf("entry %d: %+v for %s", i, en, got[i])
		}
	}
	// Stored with the 'to' it was routed to.
	if s := string(entries[0].Stanza); !strings.Contains(s, `to="alice@example.org"`) {
		t.Errorf("stored message to self without 'to': %s", s)
	}
}

// TestOfflineCopyCarriesStanzaID: with the real offline module, the copy
// kept for an offline user, delivered at login, carries the stanza-id of
// the archive entry, so that a client that also fetches the archive sees
// the same message once.
func TestOfflineCopyCarriesStanzaID(t *testing.T) {
	e := setup(t, Options{}, func(s *faulty) module.Module { return offline.New(s, offline.Options{}) })
	st := e.store
	e.send(t, e.bob, `<message to='carol@example.org' type='chat' id='o1'><body>while you were out</body></message>`)
	e.send(t, e.bob, `<message to='carol@example.org' type='chat' id='o2'><body>again</body>
		<stanza-id xmlns='urn:xmpp:sid:0' by='carol@example.org' id='forged'/></message>`)
	if got := e.bob.Take(); len(got) != 0 {
		t.Fatalf("sender got %v", got)
	}
	if msgs, err := st.OfflineMessages(t.Context(), "example.org", "carol"); err != nil || len(msgs) != 2 {
		t.Fatalf("offline messages: %d, %v", len(msgs), err)
	}
	entries := e.archive(t, "carol")
	if len(entries) != 2 {
		t.Fatalf("carol's archive: %d entries", len(entries))
	}
	carol := routertest.Bind(t, e.r, "carol@example.org/tablet")
	e.r.Route(t.Context(), routertest.Stanza(t, carol, `<presence/>`))
	got := carol.Take()
	if len(got) != 2 {
		t.Fatalf("carol got %d stanzas at login: %v", len(got), got)
	}
	for i, el := range got {
		if id := stanzaID(t, el, "carol@example.org"); id != entries[i].ID {
			t.Errorf("offline copy %d has stanza-id %q, archive entry %q: %s", i, id, entries[i].ID, el)
		}
	}
	// And the archive query returns the same IDs.
	q := e.queryOK(t, carol, "", "")
	if !slices.Equal(q.ids(), []string{entries[0].ID, entries[1].ID}) {
		t.Errorf("query ids %v, entries %v", q.ids(), entries)
	}
}
