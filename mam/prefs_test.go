package mam

import (
	"sync"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/storage"
)

// prefsIQ sends a prefs IQ from alice's phone and returns the answer.
func (e *env) prefsIQ(t *testing.T, typ, inner string) string {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, `<iq type='`+typ+`' id='p'>`+inner+`</iq>`))
	return e.alice.TakeOne(t).String()
}

func (e *env) setPrefs(t *testing.T, prefs string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, `<iq type='set' id='p'>`+prefs+`</iq>`))
	if got := e.alice.TakeOne(t); got.Attr("type") != "result" {
		t.Fatalf("setting prefs: %s", got)
	}
}

// archivedFrom sends alice a message from each session and reports for
// each whether it was archived (in alice's archive, with a stanza-id).
func (e *env) archivedFrom(t *testing.T, senders ...*routertest.Session) []bool {
	t.Helper()
	before := len(e.archive(t, "alice"))
	var out []bool
	for _, s := range senders {
		e.send(t, s, `<message to='alice@example.org' type='chat'><body>x</body></message>`)
		got := e.alice.TakeOne(t)
		n := len(e.archive(t, "alice"))
		archived := n > before
		if has := stanzaID(t, got, "alice@example.org") != ""; has != archived {
			t.Errorf("stanza-id %v, archived %v: %s", has, archived, got)
		}
		before = n
		out = append(out, archived)
	}
	return out
}

func TestPrefsGetSet(t *testing.T) {
	e := setup(t, Options{})
	// Never set: the server default, empty lists present (XEP-0441 §2.1).
	routertest.AssertXML(t, routertest.Parse(t, e.prefsIQ(t, "get", `<prefs xmlns='urn:xmpp:mam:2'/>`)),
		`<iq type='result' id='p' to='alice@example.org/phone'><prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never/></prefs></iq>`)

	// Set: normalized, sorted, each once; a JID in both lists is never.
	got := e.prefsIQ(t, "set", `<prefs xmlns='urn:xmpp:mam:2' default='roster'>
		<always><jid>Romeo@Montague.lit</jid><jid>juliet@capulet.lit/balcony</jid><jid>romeo@montague.lit</jid><jid>both@x.lit</jid></always>
		<never><jid>montague@montague.lit</jid><jid>both@x.lit</jid></never></prefs>`)
	want := `<iq type='result' id='p' to='alice@example.org/phone'><prefs xmlns='urn:xmpp:mam:2' default='roster'>
		<always><jid>juliet@capulet.lit/balcony</jid><jid>romeo@montague.lit</jid></always>
		<never><jid>both@x.lit</jid><jid>montague@montague.lit</jid></never></prefs></iq>`
	routertest.AssertXML(t, routertest.Parse(t, got), want)
	routertest.AssertXML(t, routertest.Parse(t, e.prefsIQ(t, "get", `<prefs xmlns='urn:xmpp:mam:2'/>`)), want)
	p, err := e.store.ArchivePrefs(t.Context(), "example.org", "alice")
	if err != nil || p.Default != storage.ArchiveRoster || len(p.Always) != 2 || len(p.Never) != 2 {
		t.Errorf("stored: %+v, %v", p, err)
	}

	// Replaced as a whole; missing lists are empty.
	got = e.prefsIQ(t, "set", `<prefs xmlns='urn:xmpp:mam:2' default='never'/>`)
	routertest.AssertXML(t, routertest.Parse(t, got),
		`<iq type='result' id='p' to='alice@example.org/phone'><prefs xmlns='urn:xmpp:mam:2' default='never'><always/><never/></prefs></iq>`)
}

func TestPrefsErrors(t *testing.T) {
	e := setup(t, Options{MaxPrefsJIDs: 2})
	for _, tc := range []struct{ prefs, cond string }{
		{`<prefs xmlns='urn:xmpp:mam:2'/>`, "bad-request"},
		{`<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>`, "bad-request"},
		{`<prefs xmlns='urn:xmpp:mam:2' default='always'><always><jid>@bad</jid></always></prefs>`, "jid-malformed"},
		{`<prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>a@x</jid><jid>b@x</jid><jid>c@x</jid></never></prefs>`, "policy-violation"},
	} {
		assertError(t, routertest.Parse(t, e.prefsIQ(t, "set", tc.prefs)), tc.cond)
	}
	if _, err := e.store.ArchivePrefs(t.Context(), "example.org", "alice"); err == nil {
		t.Errorf("a refused set stored preferences")
	}
}

func TestPrefsApplied(t *testing.T) {
	e := setup(t, Options{})
	carol := e.online(t, "carol@example.org/pc", "0")
	bobWork := e.online(t, "bob@example.org/work", "0")

	// The never list: bare matches any resource, full only itself.
	e.setPrefs(t, `<prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>bob@example.org/work</jid></never></prefs>`)
	if got := e.archivedFrom(t, e.bob, bobWork, carol); got[0] != true || got[1] != false || got[2] != true {
		t.Errorf("never bob/work: %v", got)
	}
	e.setPrefs(t, `<prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>bob@example.org</jid></never></prefs>`)
	if got := e.archivedFrom(t, e.bob, bobWork, carol); got[0] != false || got[1] != false || got[2] != true {
		t.Errorf("never bob: %v", got)
	}
	// Outgoing too: the 'to' is what is matched.
	n := len(e.archive(t, "alice"))
	e.send(t, e.alice, `<message to='bob@example.org/home' type='chat'><body>out</body></message>`)
	if len(e.archive(t, "alice")) != n {
		t.Errorf("outgoing message to a never JID archived")
	}
	if got := e.bob.TakeOne(t); stanzaID(t, got, "alice@example.org") != "" {
		t.Errorf("stanza-id leaked: %s", got)
	}

	// Default never, the always list.
	e.setPrefs(t, `<prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>carol@example.org</jid></always></prefs>`)
	if got := e.archivedFrom(t, e.bob, carol); got[0] != false || got[1] != true {
		t.Errorf("default never, always carol: %v", got)
	}

	// Default roster: bob is in alice's roster, carol is not; an item for
	// a pending request alone does not count.
	_, _, err := e.store.UpdateRosterItem(t.Context(), "example.org", "alice", "bob@example.org",
		func(*storage.RosterItem) (*storage.RosterItem, error) {
			return &storage.RosterItem{Subscription: storage.SubNone}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.store.UpdateRosterItem(t.Context(), "example.org", "alice", "carol@example.org",
		func(*storage.RosterItem) (*storage.RosterItem, error) {
			return &storage.RosterItem{Subscription: storage.SubNone, PendingIn: true}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	e.setPrefs(t, `<prefs xmlns='urn:xmpp:mam:2' default='roster'/>`)
	if got := e.archivedFrom(t, e.bob, bobWork, carol); got[0] != true || got[1] != true || got[2] != false {
		t.Errorf("default roster: %v", got)
	}
	// Messages to oneself count as in the roster.
	n = len(e.archive(t, "alice"))
	e.send(t, e.laptop, `<message type='chat'><body>note</body></message>`)
	if len(e.archive(t, "alice")) != n+1 {
		t.Errorf("note to self not archived with default roster")
	}
}

// TestServerDefault: Options.Default applies to users without prefs.
func TestServerDefault(t *testing.T) {
	e := setup(t, Options{Default: storage.ArchiveNever})
	if got := e.archivedFrom(t, e.bob); got[0] {
		t.Errorf("archived with the server default never")
	}
	if n := len(e.archive(t, "bob")); n != 0 {
		t.Errorf("bob's archive: %d", n)
	}
	routertest.AssertXML(t, routertest.Parse(t, e.prefsIQ(t, "get", `<prefs xmlns='urn:xmpp:mam:2'/>`)),
		`<iq type='result' id='p' to='alice@example.org/phone'><prefs xmlns='urn:xmpp:mam:2' default='never'><always/><never/></prefs></iq>`)
	e.setPrefs(t, `<prefs xmlns='urn:xmpp:mam:2' default='always'/>`)
	if got := e.archivedFrom(t, e.bob); !got[0] {
		t.Errorf("not archived after alice chose always")
	}
}

// TestPrefsCacheExpires: preferences changed behind the module's back (by
// another process on the same database) are seen once the cache has
// rotated twice, and not before: a message routed meanwhile reads no
// storage.
func TestPrefsCacheExpires(t *testing.T) {
	e := setup(t, Options{Default: storage.ArchiveNever})
	if got := e.archivedFrom(t, e.bob); got[0] {
		t.Fatalf("archived with the server default never")
	}
	err := e.store.SetArchivePrefs(t.Context(), "example.org", "alice", storage.ArchivePrefs{Default: storage.ArchiveAlways})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.archivedFrom(t, e.bob); got[0] {
		t.Errorf("the cached preferences were read again before they expired")
	}
	e.mam.prefs.rotate()
	if got := e.archivedFrom(t, e.bob); got[0] {
		t.Errorf("the cached preferences were forgotten after one rotation")
	}
	e.mam.prefs.rotate()
	if got := e.archivedFrom(t, e.bob); !got[0] {
		t.Errorf("preferences changed in storage not seen after the cache expired")
	}
}

// TestPrefsForgottenWithLastSession: the preferences of a user whose last
// session ended are read again at the next message, so that an account
// removed (its sessions closed) and created again under the same name
// starts with the server default, not the old account's choice.
func TestPrefsForgottenWithLastSession(t *testing.T) {
	e := setup(t, Options{Default: storage.ArchiveNever})
	e.setPrefs(t, `<prefs xmlns='urn:xmpp:mam:2' default='always'/>`)
	if got := e.archivedFrom(t, e.bob); !got[0] {
		t.Fatalf("not archived after alice chose always")
	}
	// The account is removed: its preferences go with it, in storage.
	if err := e.store.DeleteAccount(t.Context(), "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	e.r.SessionEnded(t.Context(), e.alice)
	if _, ok := e.mam.prefs.get(e.alice.JID()); !ok {
		t.Fatalf("preferences forgotten while alice's laptop is still online")
	}
	e.r.SessionEnded(t.Context(), e.laptop)
	if _, ok := e.mam.prefs.get(e.alice.JID()); ok {
		t.Fatalf("preferences still cached after alice's last session ended")
	}
	if err := e.store.CreateAccount(t.Context(), "example.org", "alice", nil); err != nil {
		t.Fatal(err)
	}
	e.alice = e.online(t, "alice@example.org/phone", "1")
	if got := e.archivedFrom(t, e.bob); got[0] {
		t.Errorf("the new account archived with the removed account's preferences")
	}
}

// TestPrefsReadOnce: messages of a user whose preferences are not cached
// wait for one read of the database, not one read each.
func TestPrefsReadOnce(t *testing.T) {
	e := setup(t, Options{Default: storage.ArchiveNever})
	e.mam.prefs.rotate()
	e.mam.prefs.rotate()
	release := make(chan struct{})
	e.store.mu.Lock()
	e.store.prefsBlock, e.store.prefsReads = release, 0
	e.store.mu.Unlock()
	var started, done sync.WaitGroup
	for range 20 {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			e.mam.userPrefs(t.Context(), e.alice.JID().Bare())
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let them all reach the cache miss
	close(release)
	done.Wait()
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	if e.store.prefsReads != 1 {
		t.Errorf("%d reads of alice's preferences for 20 concurrent messages, want 1", e.store.prefsReads)
	}
}
