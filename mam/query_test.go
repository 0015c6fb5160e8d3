package mam

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/storage"
)

// converse fills alice's archive: bob and alice exchange n messages
// (bob's even, alice's odd), bodies "0".."n-1", one second apart.
func converse(t *testing.T, e *env, n int) []storage.ArchiveEntry {
	t.Helper()
	for i := range n {
		from, to := e.bob, "alice@example.org"
		if i%2 == 1 {
			from, to = e.alice, "bob@example.org/home"
		}
		e.send(t, from, fmt.Sprintf(`<message to='%s' type='chat' id='c%d'><body>%d</body></message>`, to, i, i))
	}
	e.alice.Take()
	e.laptop.Take()
	e.bob.Take()
	return e.archive(t, "alice")
}

func bodies(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func entryIDs(entries []storage.ArchiveEntry) []string {
	var out []string
	for _, en := range entries {
		out = append(out, en.ID)
	}
	return out
}

func TestQueryResults(t *testing.T) {
	e := setup(t, Options{})
	entries := converse(t, e, 2)
	q := e.queryOK(t, e.laptop, "queryid='f27'", "")
	if len(q.results) != 2 {
		t.Fatalf("%d results", len(q.results))
	}
	// Results go to the requesting resource only, before the IQ result.
	if got := e.alice.Take(); len(got) != 0 {
		t.Errorf("another resource got %v", got)
	}
	r0 := q.results[0]
	routertest.AssertXML(t, r0, `<message from='alice@example.org' to='alice@example.org/laptop' id='`+r0.Attr("id")+`'>
		<result xmlns='urn:xmpp:mam:2' queryid='f27' id='`+entries[0].ID+`'>
		<forwarded xmlns='urn:xmpp:forward:0'>
		<delay xmlns='urn:xmpp:delay' stamp='2026-03-01T12:00:01.000Z'/>
		<message xmlns='jabber:client' from='bob@example.org/home' to='alice@example.org' type='chat' id='c0'><body>0</body></message>
		</forwarded></result></message>`)
	if forwarded(r0) == nil {
		t.Fatalf("the forwarded message is not in jabber:client: %s", r0)
	}
	routertest.AssertXML(t, q.results[1], `<message from='alice@example.org' to='alice@example.org/laptop' id='`+q.results[1].Attr("id")+`'>
		<result xmlns='urn:xmpp:mam:2' queryid='f27' id='`+entries[1].ID+`'>
		<forwarded xmlns='urn:xmpp:forward:0'>
		<delay xmlns='urn:xmpp:delay' stamp='2026-03-01T12:00:02.000Z'/>
		<message xmlns='jabber:client' from='alice@example.org/phone' to='bob@example.org/home' type='chat' id='c1'><body>1</body></message>
		</forwarded></result></message>`)
	if r0.Attr("id") == q.results[1].Attr("id") {
		t.Errorf("two results with the same id")
	}
	routertest.AssertXML(t, q.iq, `<iq type='result' id='`+q.iq.Attr("id")+`' to='alice@example.org/laptop'>
		<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'>
		<first index='0'>`+entries[0].ID+`</first><last>`+entries[1].ID+`</last><count>2</count></set></fin></iq>`)

	// Without queryid, the results have none; addressed to the bare JID,
	// the same.
	e.r.Route(t.Context(), routertest.Stanza(t, e.laptop,
		`<iq type='set' id='bare' to='alice@example.org'><query xmlns='urn:xmpp:mam:2'/></iq>`))
	got := e.laptop.Take()
	if len(got) != 3 || got[0].Child(NS, "result").Attr("queryid") != "" {
		t.Fatalf("query to the bare JID: %v", got)
	}
	routertest.AssertXML(t, got[2], `<iq type='result' id='bare' from='alice@example.org' to='alice@example.org/laptop'>
		<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'>
		<first index='0'>`+entries[0].ID+`</first><last>`+entries[1].ID+`</last><count>2</count></set></fin></iq>`)
}

func TestQueryEmpty(t *testing.T) {
	e := setup(t, Options{})
	q := e.queryOK(t, e.alice, "", "")
	if len(q.results) != 0 {
		t.Fatalf("results from an empty archive")
	}
	routertest.AssertXML(t, q.fin(), `<fin xmlns='urn:xmpp:mam:2' complete='true'><set xmlns='http://jabber.org/protocol/rsm'><count>0</count></set></fin>`)
}

// TestQuerySeesWhatWasJustRouted: the query waits for the writer.
func TestQuerySeesWhatWasJustRouted(t *testing.T) {
	e := setup(t, Options{BatchDelay: 200 * time.Millisecond})
	for i := range 5 {
		e.send(t, e.bob, fmt.Sprintf(`<message to='alice@example.org' type='chat'><body>%d</body></message>`, i))
	}
	q := e.queryOK(t, e.laptop, "", "")
	if !slices.Equal(q.bodies(), bodies(0, 5)) {
		t.Errorf("bodies %v", q.bodies())
	}
}

func TestQueryWith(t *testing.T) {
	e := setup(t, Options{})
	carol := e.online(t, "carol@example.org/pc", "0")
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>bob home</body></message>`)
	bobWork := e.online(t, "bob@example.org/work", "0")
	e.send(t, bobWork, `<message to='alice@example.org' type='chat'><body>bob work</body></message>`)
	e.send(t, carol, `<message to='alice@example.org' type='chat'><body>carol</body></message>`)
	e.send(t, e.alice, `<message to='bob@example.org' type='chat'><body>to bob</body></message>`)
	e.send(t, e.alice, `<message to='bob@example.org/work' type='chat'><body>to bob at work</body></message>`)
	e.send(t, e.alice, `<message type='chat'><body>note to self</body></message>`)
	e.alice.Take()
	for _, tc := range []struct {
		with string
		want []string
	}{
		{"bob@example.org", []string{"bob home", "bob work", "to bob", "to bob at work"}},
		{"bob@example.org/work", []string{"bob work", "to bob at work"}},
		{"bob@example.org/home", []string{"bob home"}},
		{"BOB@Example.org/work", []string{"bob work", "to bob at work"}}, // normalized
		{"carol@example.org", []string{"carol"}},
		{"alice@example.org", []string{"note to self"}},
		{"example.org", nil},
		{"", []string{"bob home", "bob work", "carol", "to bob", "to bob at work", "note to self"}},
	} {
		q := e.queryOK(t, e.laptop, "", form("with", tc.with))
		if !slices.Equal(q.bodies(), tc.want) {
			t.Errorf("with %q: %q, want %q", tc.with, q.bodies(), tc.want)
		}
	}
}

func TestQueryTime(t *testing.T) {
	e := setup(t, Options{})
	converse(t, e, 5) // at 12:00:01 .. 12:00:05
	for _, tc := range []struct {
		start, end string
		want       []string
	}{
		{"2026-03-01T12:00:02Z", "", bodies(1, 5)},
		{"", "2026-03-01T12:00:02Z", bodies(0, 2)},
		{"2026-03-01T12:00:02Z", "2026-03-01T12:00:04Z", bodies(1, 4)},
		{"2026-03-01T12:00:02.001Z", "2026-03-01T12:00:03.999Z", []string{"2"}},
		{"2026-03-01T13:00:02+01:00", "2026-03-01T11:00:03-01:00", bodies(1, 3)},
		{"2026-03-01T12:00:04Z", "2026-03-01T12:00:02Z", nil},
	} {
		q := e.queryOK(t, e.laptop, "", form("start", tc.start, "end", tc.end))
		if !slices.Equal(q.bodies(), tc.want) {
			t.Errorf("start %q end %q: %q, want %q", tc.start, tc.end, q.bodies(), tc.want)
		}
	}
}

func TestQueryIDs(t *testing.T) {
	e := setup(t, Options{})
	entries := converse(t, e, 6)
	id := entryIDs(entries)
	q := e.queryOK(t, e.laptop, "", form("after-id", id[1]))
	if !slices.Equal(q.bodies(), bodies(2, 6)) {
		t.Errorf("after-id: %q", q.bodies())
	}
	q = e.queryOK(t, e.laptop, "", form("before-id", id[2]))
	if !slices.Equal(q.bodies(), bodies(0, 2)) {
		t.Errorf("before-id: %q", q.bodies())
	}
	q = e.queryOK(t, e.laptop, "", form("after-id", id[0], "before-id", id[4]))
	if !slices.Equal(q.bodies(), bodies(1, 4)) {
		t.Errorf("between: %q", q.bodies())
	}
	if _, _, _, count := q.rsm(t); count != 3 {
		t.Errorf("count %d, want 3", count)
	}
	q = e.queryOK(t, e.laptop, "", form("ids", id[4]+"|"+id[1]))
	if !slices.Equal(q.bodies(), []string{"1", "4"}) {
		t.Errorf("ids: %q", q.bodies())
	}
	// XEP-0313 §4.1.3: any unknown ID is item-not-found.
	e.queryErr(t, e.laptop, form("after-id", "nope"), "item-not-found")
	e.queryErr(t, e.laptop, form("before-id", "nope"), "item-not-found")
	e.queryErr(t, e.laptop, form("ids", id[0]+"|nope"), "item-not-found")
	// bob's IDs are not in alice's archive.
	bobs := entryIDs(e.archive(t, "bob"))
	e.queryErr(t, e.laptop, form("ids", bobs[0]), "item-not-found")
}

func TestQueryPaging(t *testing.T) {
	e := setup(t, Options{MaxPageSize: 4, DefaultPageSize: 3})
	id := entryIDs(converse(t, e, 10))

	// No max: the default page size.
	q := e.queryOK(t, e.laptop, "", "")
	assertPage(t, "default page", q, bodies(0, 3), id[0], 0, id[2], 10, "false")
	// Forward, from the last seen.
	q = e.queryOK(t, e.laptop, "", rsm(`<max>2</max><after>`+id[2]+`</after>`))
	assertPage(t, "after", q, bodies(3, 5), id[3], 3, id[4], 10, "false")
	// A larger max is lowered to MaxPageSize.
	q = e.queryOK(t, e.laptop, "", rsm(`<max>1000</max><after>`+id[4]+`</after>`))
	assertPage(t, "clamped", q, bodies(5, 9), id[5], 5, id[8], 10, "false")
	q = e.queryOK(t, e.laptop, "", rsm(`<max>4</max><after>`+id[8]+`</after>`))
	assertPage(t, "last forward page", q, []string{"9"}, id[9], 9, id[9], 10, "true")
	q = e.queryOK(t, e.laptop, "", rsm(`<max>4</max><after>`+id[9]+`</after>`))
	assertPage(t, "after the end", q, nil, "", 0, "", 10, "true")
	// The last page, then backwards.
	q = e.queryOK(t, e.laptop, "", rsm(`<max>4</max><before/>`))
	assertPage(t, "last page", q, bodies(6, 10), id[6], 6, id[9], 10, "false")
	q = e.queryOK(t, e.laptop, "", rsm(`<max>4</max><before>`+id[6]+`</before>`))
	assertPage(t, "before", q, bodies(2, 6), id[2], 2, id[5], 10, "false")
	q = e.queryOK(t, e.laptop, "", rsm(`<max>4</max><before>`+id[2]+`</before>`))
	assertPage(t, "first page backwards", q, bodies(0, 2), id[0], 0, id[1], 10, "true")
	// Flipped: the same page, newest first; first and last unchanged.
	q = e.queryOK(t, e.laptop, "", rsm(`<max>3</max><before/>`)+`<flip-page/>`)
	assertPage(t, "flipped", q, []string{"9", "8", "7"}, id[7], 7, id[9], 10, "false")
	// By index.
	q = e.queryOK(t, e.laptop, "", rsm(`<max>2</max><index>4</index>`))
	assertPage(t, "index", q, bodies(4, 6), id[4], 4, id[5], 10, "false")
	// max 0: the count only.
	q = e.queryOK(t, e.laptop, "", rsm(`<max>0</max>`))
	assertPage(t, "count only", q, nil, "", 0, "", 10, "false")
	// Paging within a filter.
	q = e.queryOK(t, e.laptop, "", form("start", "2026-03-01T12:00:05Z")+rsm(`<max>2</max><after>`+id[5]+`</after>`))
	assertPage(t, "filtered", q, bodies(6, 8), id[6], 2, id[7], 6, "false")
	// Unknown RSM IDs.
	e.queryErr(t, e.laptop, rsm(`<after>nope</after>`), "item-not-found")
	e.queryErr(t, e.laptop, rsm(`<before>nope</before>`), "item-not-found")
}

func assertPage(t *testing.T, what string, q queryResult, wantBodies []string, first string, index int, last string, count int, complete string) {
	t.Helper()
	f, i, l, c := q.rsm(t)
	if !slices.Equal(q.bodies(), wantBodies) || f != first || (first != "" && i != index) || l != last || c != count || q.complete() != complete {
		t.Errorf("%s: bodies %q first %q/%d last %q count %d complete %q; want %q %q/%d %q %d %q",
			what, q.bodies(), f, i, l, c, q.complete(), wantBodies, first, index, last, count, complete)
	}
}

func TestQueryBadRequests(t *testing.T) {
	e := setup(t, Options{})
	converse(t, e, 2)
	for _, tc := range []struct {
		name, payload, cond string
	}{
		{"bad start", form("start", "yesterday"), "bad-request"},
		{"date only", form("start", "2026-03-01"), "bad-request"},
		{"no zone", form("end", "2026-03-01T12:00:00"), "bad-request"},
		{"bad with", form("with", "@bad@"), "bad-request"},
		{"two starts", form("start", "2026-03-01T12:00:00Z|2026-03-01T12:00:01Z"), "bad-request"},
		{"wrong FORM_TYPE", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>`, "bad-request"},
		{"form not submitted", `<x xmlns='jabber:x:data' type='cancel'/>`, "bad-request"},
		{"field twice", form("with", "bob@example.org", "with", "carol@example.org"), "bad-request"},
		{"empty id", form("ids", "a|"), "bad-request"},
		{"unknown field", form("{urn:example}search", "x"), "feature-not-implemented"},
		{"include-groupchat", form("include-groupchat", "true"), "feature-not-implemented"},
		{"bad max", rsm(`<max>ten</max>`), "bad-request"},
		{"negative max", rsm(`<max>-1</max>`), "bad-request"},
		{"empty after", rsm(`<after/>`), "bad-request"},
		{"bad index", rsm(`<index>x</index>`), "bad-request"},
	} {
		t.Run(tc.name, func(t *testing.T) { e.queryErr(t, e.laptop, tc.payload, tc.cond) })
	}
	// A pubsub archive query: not here.
	q := e.query(t, e.laptop, "node='urn:xmpp:microblog:0'", "")
	assertError(t, q.iq, "feature-not-implemented")
}

// TestQueryOthersArchive: only the owner may read an archive.
func TestQueryOthersArchive(t *testing.T) {
	e := setup(t, Options{})
	converse(t, e, 2)
	for _, req := range []string{
		`<iq type='set' id='x' to='alice@example.org'><query xmlns='urn:xmpp:mam:2'/></iq>`,
		`<iq type='get' id='x' to='alice@example.org'><query xmlns='urn:xmpp:mam:2'/></iq>`,
		`<iq type='get' id='x' to='alice@example.org'><metadata xmlns='urn:xmpp:mam:2'/></iq>`,
		`<iq type='get' id='x' to='alice@example.org'><prefs xmlns='urn:xmpp:mam:2'/></iq>`,
		`<iq type='set' id='x' to='alice@example.org'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>`,
	} {
		e.r.Route(t.Context(), routertest.Stanza(t, e.bob, req))
		got := e.bob.TakeOne(t)
		assertError(t, got, "forbidden")
	}
	if n := len(e.archive(t, "alice")); n != 2 {
		t.Errorf("alice's archive changed: %d", n)
	}
}

func TestQueryForm(t *testing.T) {
	e := setup(t, Options{})
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, `<iq type='get' id='form1'><query xmlns='urn:xmpp:mam:2'/></iq>`))
	routertest.AssertXML(t, e.alice.TakeOne(t), `<iq type='result' id='form1' to='alice@example.org/phone'>
		<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'>
		<field type='hidden' var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>
		<field type='jid-single' var='with'/>
		<field type='text-single' var='start'/>
		<field type='text-single' var='end'/>
		<field type='text-single' var='before-id'/>
		<field type='text-single' var='after-id'/>
		<field type='list-multi' var='ids'><validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:string'><open/></validate></field>
		</x></query></iq>`)
}

func TestMetadata(t *testing.T) {
	e := setup(t, Options{})
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, `<iq type='get' id='m1'><metadata xmlns='urn:xmpp:mam:2'/></iq>`))
	routertest.AssertXML(t, e.alice.TakeOne(t), `<iq type='result' id='m1' to='alice@example.org/phone'><metadata xmlns='urn:xmpp:mam:2'/></iq>`)
	id := entryIDs(converse(t, e, 3))
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, `<iq type='get' id='m2'><metadata xmlns='urn:xmpp:mam:2'/></iq>`))
	routertest.AssertXML(t, e.alice.TakeOne(t), `<iq type='result' id='m2' to='alice@example.org/phone'><metadata xmlns='urn:xmpp:mam:2'>
		<start id='`+id[0]+`' timestamp='2026-03-01T12:00:01.000Z'/><end id='`+id[2]+`' timestamp='2026-03-01T12:00:03.000Z'/>
		</metadata></iq>`)
}

func TestFeatures(t *testing.T) {
	e := setup(t, Options{})
	got := e.reg.Features(module.Account)
	for _, f := range []string{NS, NSExtended, NSSID} {
		if !slices.Contains(got, f) {
			t.Errorf("account features %v lack %s", got, f)
		}
	}
	if s := e.reg.Features(module.Server); slices.Contains(s, NS) {
		t.Errorf("server features %v: the archive is on the account", s)
	}
}

// TestUnparsableEntry: an entry whose stanza no longer parses is still a
// result, without the message, so paging goes on.
func TestUnparsableEntry(t *testing.T) {
	e := setup(t, Options{})
	err := e.store.AppendArchive(t.Context(), []storage.ArchiveEntry{{Host: "example.org", Username: "alice", ID: "broken",
		With: "bob@example.org", Direction: storage.ArchiveIncoming, Stamp: t0, Stanza: []byte("<message><body>")}})
	if err != nil {
		t.Fatal(err)
	}
	q := e.queryOK(t, e.alice, "", "")
	if len(q.results) != 1 {
		t.Fatalf("%d results", len(q.results))
	}
	routertest.AssertXML(t, q.results[0].Child(NS, "result"), `<result xmlns='urn:xmpp:mam:2' id='broken'>
		<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-03-01T12:00:00.000Z'/></forwarded></result>`)
}

// TestQueryToClosingSession: a session that stops taking results gets no
// more, and the query ends with an error it will not see.
func TestQueryToClosingSession(t *testing.T) {
	e := setup(t, Options{})
	converse(t, e, 3)
	e.laptop.Refuse(true)
	e.r.Route(t.Context(), routertest.Stanza(t, e.laptop, `<iq type='set' id='x'><query xmlns='urn:xmpp:mam:2'/></iq>`))
	e.laptop.Refuse(false)
	if got := e.laptop.Take(); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}
