package mamquery

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

var lim = Limits{DefaultPageSize: 50, MaxPageSize: 100, MaxIDs: 3}

func parse(t testing.TB, s string) *xmppcore.Element {
	t.Helper()
	el, err := xmppcore.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return el
}

func form(fields string) string {
	return `<query xmlns='urn:xmpp:mam:2' queryid='q1'><x xmlns='jabber:x:data' type='submit'>` +
		`<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>` + fields + `</x></query>`
}

func TestParse(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, tc := range []struct {
		in   string
		want storage.ArchiveQuery
		with string
		flip bool
	}{
		{`<query xmlns='urn:xmpp:mam:2'/>`, storage.ArchiveQuery{Max: 50}, "", false},
		{form(`<field var='with'><value>juliet@capulet.lit/balcony</value></field>` +
			`<field var='start'><value>2026-01-02T03:04:05Z</value></field>` +
			`<field var='end'><value>2026-01-02T04:04:05+01:00</value></field>`),
			storage.ArchiveQuery{Max: 50, Start: t0, End: t0}, "juliet@capulet.lit/balcony", false},
		{form(`<field var='after-id'><value>a</value></field><field var='before-id'><value>b</value></field>` +
			`<field var='ids'><value>x</value><value>y</value></field><field var='start'><value/></field>`),
			storage.ArchiveQuery{Max: 50, AfterID: "a", BeforeID: "b", IDs: []string{"x", "y"}}, "", false},
		{`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>500</max><after>k</after><index>3</index></set><flip-page/></query>`,
			storage.ArchiveQuery{Max: 100, After: "k", Index: 3}, "", true},
		{`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max><before/></set></query>`,
			storage.ArchiveQuery{Max: 0, Backward: true}, "", false},
	} {
		r, err := Parse(parse(t, tc.in), lim)
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		if !r.Query.Start.Equal(tc.want.Start) || !r.Query.End.Equal(tc.want.End) || !slices.Equal(r.Query.IDs, tc.want.IDs) {
			t.Errorf("%d: times or ids %+v, want %+v", i, r.Query, tc.want)
		}
		r.Query.Start, r.Query.End, r.Query.IDs = tc.want.Start, tc.want.End, tc.want.IDs
		if r.Query.Max != tc.want.Max || r.Query.After != tc.want.After || r.Query.Before != tc.want.Before ||
			r.Query.Backward != tc.want.Backward || r.Query.Index != tc.want.Index ||
			r.Query.AfterID != tc.want.AfterID || r.Query.BeforeID != tc.want.BeforeID || r.Query.With != "" {
			t.Errorf("%d: %+v, want %+v", i, r.Query, tc.want)
		}
		if got := r.With.String(); got != tc.with || r.HasWith() != (tc.with != "") {
			t.Errorf("%d: with %q, want %q", i, got, tc.with)
		}
		if r.Flip != tc.flip {
			t.Errorf("%d: flip %v", i, r.Flip)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for i, tc := range []struct {
		in   string
		cond stanza.Condition
	}{
		{`<query xmlns='urn:xmpp:mam:2' node='n'/>`, stanza.FeatureNotImplemented},
		{form(`<field var='colour'><value>red</value></field>`), stanza.FeatureNotImplemented},
		{form(`<field var='start'><value>yesterday</value></field>`), stanza.BadRequest},
		{form(`<field var='end'><value>2026-01-02</value></field>`), stanza.BadRequest},
		{form(`<field var='with'><value>@@</value></field>`), stanza.BadRequest},
		{form(`<field var='with'><value>a@b</value><value>c@d</value></field>`), stanza.BadRequest},
		{form(`<field var='start'><value>2026-01-02T03:04:05Z</value></field><field var='start'/>`), stanza.BadRequest},
		{form(`<field var='ids'><value></value></field>`), stanza.BadRequest},
		{form(`<field var='ids'><value>1</value><value>2</value><value>3</value><value>4</value></field>`), stanza.PolicyViolation},
		{`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>`, stanza.BadRequest},
		{`<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'/></query>`, stanza.BadRequest},
		{`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set></query>`, stanza.BadRequest},
		{`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after/></set></query>`, stanza.BadRequest},
		{`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><index>x</index></set></query>`, stanza.BadRequest},
	} {
		_, err := Parse(parse(t, tc.in), lim)
		var se stanza.Error
		if !errors.As(err, &se) || se.Condition != tc.cond {
			t.Errorf("%d: %v, want %s", i, err, tc.cond)
		}
	}
}

func TestFinAndEntries(t *testing.T) {
	es := []storage.ArchiveEntry{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	page := storage.ArchivePage{Entries: es, Count: 7, Index: 2}
	got := Fin(page).String()
	want := `<fin xmlns='urn:xmpp:mam:2' complete='false'><set xmlns='http://jabber.org/protocol/rsm'><first index='2'>a</first><last>c</last><count>7</count></set></fin>`
	if strings.ReplaceAll(got, `"`, `'`) != want {
		t.Errorf("fin = %s\nwant %s", got, want)
	}
	r := &Request{Flip: true}
	if ids := func() (s []string) {
		for _, e := range r.Entries(page) {
			s = append(s, e.ID)
		}
		return
	}(); !slices.Equal(ids, []string{"c", "b", "a"}) || es[0].ID != "a" {
		t.Errorf("flipped = %v, page now %v", ids, es)
	}
	empty := Fin(storage.ArchivePage{Complete: true}).String()
	if strings.Contains(empty, "first") || !strings.Contains(empty, "<count>0</count>") {
		t.Errorf("empty fin = %s", empty)
	}
}

// FuzzParse: any query element parses to a request or a stanza error,
// never a panic nor another error.
func FuzzParse(f *testing.F) {
	f.Add(form(`<field var='with'><value>juliet@capulet.lit</value></field>`))
	f.Add(`<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set><flip-page/></query>`)
	f.Add(form(`<field var='ids'><value>1</value></field><field var='start'><value>2026-01-02T03:04:05.123+02:00</value></field>`))
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmppcore.Parse([]byte(s))
		if err != nil {
			return
		}
		r, err := Parse(el, lim)
		if err != nil {
			var se stanza.Error
			if !errors.As(err, &se) {
				t.Fatalf("not a stanza error: %v", err)
			}
			return
		}
		if r.Query.Max > lim.MaxPageSize && r.Query.Max != lim.DefaultPageSize || len(r.Query.IDs) > lim.MaxIDs {
			t.Fatalf("limits not applied: %+v", r.Query)
		}
	})
}
