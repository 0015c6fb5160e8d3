package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// RunPubSub checks the PubSub area. Run calls it; it is exported so that a
// backend can run it alone while developing.
func RunPubSub(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"Empty", testPubSubEmpty},
		{"CreateNode", testPubSubCreate},
		{"ConfigRoundTrip", testPubSubConfig},
		{"NodeLimit", testPubSubNodeLimit},
		{"ServicesApart", testPubSubServicesApart},
		{"PublishOrder", testPubSubPublish},
		{"MaxItems", testPubSubMaxItems},
		{"ConfigureTrims", testPubSubConfigureTrims},
		{"ItemLookups", testPubSubItemLookups},
		{"RetractPurge", testPubSubRetractPurge},
		{"DeleteNode", testPubSubDeleteNode},
		{"Affiliations", testPubSubAffiliations},
		{"Subscriptions", testPubSubSubscriptions},
		{"DeleteAccount", testPubSubDeleteAccount},
		{"ConcurrentPublish", testPubSubConcurrentPublish},
		{"ConcurrentCreate", testPubSubConcurrentCreate},
	})
}

// pubsubOf returns the store's PubSub area.
func pubsubOf(_ *testing.T, s storage.Store) storage.PubSub { return s }

var (
	pep   = storage.PubSubService{Host: "example.org", Username: "alice"}
	comp  = storage.PubSubService{Host: "pubsub.example.org"}
	other = storage.PubSubService{Host: "example.org", Username: "bob"}
)

// pepConfig is a configuration with every field set, so that a backend
// that drops one is caught.
func pepConfig(maxItems int) storage.PubSubConfig {
	return storage.PubSubConfig{
		Title: "Tïtle 'quoted' \"x\"", Description: "d\x00e", Type: "urn:example:payload",
		AccessModel: "roster", RosterGroups: []string{"Friends", "", "ünïcode", "Friends "},
		PublishModel: "publishers", MaxItems: maxItems, PersistItems: true,
		SendLastPublishedItem: "on_sub_and_presence", DeliverNotifications: true, DeliverPayloads: true,
		NotifyConfig: true, NotifyDelete: true, NotifyRetract: true, NotifySub: true,
		NotificationType: "headline",
	}
}

func payload(seed string) []byte {
	return append([]byte("<x xmlns='urn:example'>\x00\xff'\\"), seed+"</x>"...)
}

func mustCreateNode(t *testing.T, ps storage.PubSub, svc storage.PubSubService, node string, cfg storage.PubSubConfig) {
	t.Helper()
	if err := ps.CreatePubSubNode(t.Context(), svc, node, svc.String()+"/res", cfg, 0); err != nil {
		t.Fatalf("CreatePubSubNode(%v, %q): %v", svc, node, err)
	}
}

func mustPublish(t *testing.T, ps storage.PubSub, svc storage.PubSubService, node, id string, wantDropped ...string) {
	t.Helper()
	dropped, err := ps.PublishPubSubItem(t.Context(), svc, node, storage.PubSubItem{ID: id, Publisher: svc.String() + "/p", Payload: payload(id)})
	if err != nil {
		t.Fatalf("PublishPubSubItem(%v, %q, %q): %v", svc, node, id, err)
	}
	if !slices.Equal(dropped, wantDropped) {
		t.Errorf("PublishPubSubItem(%v, %q, %q) dropped %q, want %q", svc, node, id, dropped, wantDropped)
	}
}

// mustItems checks the IDs (newest first) and payloads of a node's items.
func mustItems(t *testing.T, ps storage.PubSub, svc storage.PubSubService, node string, last int, want ...string) []storage.PubSubItem {
	t.Helper()
	items, err := ps.PubSubItems(t.Context(), svc, node, last)
	if err != nil {
		t.Fatalf("PubSubItems(%v, %q, %d): %v", svc, node, last, err)
	}
	checkItems(t, fmt.Sprintf("PubSubItems(%v, %q, %d)", svc, node, last), items, want)
	return items
}

func checkItems(t *testing.T, what string, items []storage.PubSubItem, want []string) {
	t.Helper()
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
		if !bytes.Equal(it.Payload, payload(it.ID)) {
			t.Errorf("%s: item %q payload %q", what, it.ID, it.Payload)
		}
		if it.Published.IsZero() || it.Published.Location() != time.UTC {
			t.Errorf("%s: item %q published %v, want a UTC time", what, it.ID, it.Published)
		}
	}
	if !slices.Equal(ids, want) {
		t.Errorf("%s = %q, want %q", what, ids, want)
	}
}

func nodeNames(nodes []storage.PubSubNode) []string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return names
}

func mustNodes(t *testing.T, ps storage.PubSub, svc storage.PubSubService, want ...string) {
	t.Helper()
	nodes, err := ps.PubSubNodes(t.Context(), svc)
	if err != nil {
		t.Fatalf("PubSubNodes(%v): %v", svc, err)
	}
	if got := nodeNames(nodes); !slices.Equal(got, want) {
		t.Errorf("PubSubNodes(%v) = %q, want %q", svc, got, want)
	}
}

// wantNoNode checks that every method naming node answers ErrNotFound.
func wantNoNode(t *testing.T, ps storage.PubSub, svc storage.PubSubService, node string) {
	t.Helper()
	ctx := t.Context()
	what := func(m string) string { return fmt.Sprintf("%s(%v, %q)", m, svc, node) }
	_, err := ps.GetPubSubNode(ctx, svc, node)
	wantErr(t, what("GetPubSubNode"), err, storage.ErrNotFound)
	wantErr(t, what("ConfigurePubSubNode"), ps.ConfigurePubSubNode(ctx, svc, node, pepConfig(1)), storage.ErrNotFound)
	_, err = ps.DeletePubSubNode(ctx, svc, node)
	wantErr(t, what("DeletePubSubNode"), err, storage.ErrNotFound)
	_, err = ps.PublishPubSubItem(ctx, svc, node, storage.PubSubItem{ID: "x"})
	wantErr(t, what("PublishPubSubItem"), err, storage.ErrNotFound)
	_, err = ps.PubSubItems(ctx, svc, node, 0)
	wantErr(t, what("PubSubItems"), err, storage.ErrNotFound)
	_, err = ps.PubSubItemsByID(ctx, svc, node, []string{"x"})
	wantErr(t, what("PubSubItemsByID"), err, storage.ErrNotFound)
	wantErr(t, what("RetractPubSubItem"), ps.RetractPubSubItem(ctx, svc, node, "x"), storage.ErrNotFound)
	wantErr(t, what("PurgePubSubNode"), ps.PurgePubSubNode(ctx, svc, node), storage.ErrNotFound)
	wantErr(t, what("SetPubSubAffiliation"), ps.SetPubSubAffiliation(ctx, svc, node, "x@y", storage.PubSubMember), storage.ErrNotFound)
	_, err = ps.GetPubSubAffiliation(ctx, svc, node, "x@y")
	wantErr(t, what("GetPubSubAffiliation"), err, storage.ErrNotFound)
	_, err = ps.PubSubAffiliations(ctx, svc, node)
	wantErr(t, what("PubSubAffiliations"), err, storage.ErrNotFound)
	sub := storage.PubSubSubscription{JID: "x@y", SubID: "1", State: storage.PubSubSubscribed}
	wantErr(t, what("SetPubSubSubscription"), ps.SetPubSubSubscription(ctx, svc, node, sub), storage.ErrNotFound)
	_, err = ps.GetPubSubSubscription(ctx, svc, node, "x@y")
	wantErr(t, what("GetPubSubSubscription"), err, storage.ErrNotFound)
	wantErr(t, what("DeletePubSubSubscription"), ps.DeletePubSubSubscription(ctx, svc, node, "x@y"), storage.ErrNotFound)
	_, err = ps.PubSubSubscriptions(ctx, svc, node)
	wantErr(t, what("PubSubSubscriptions"), err, storage.ErrNotFound)
	last, err := ps.LastPubSubItems(ctx, svc, []string{node})
	if err != nil || len(last) != 0 {
		t.Errorf("%s = %v, %v; want nothing", what("LastPubSubItems"), last, err)
	}
}

func testPubSubEmpty(t *testing.T, s storage.Store) {
	ps := pubsubOf(t, s)
	mustCreate(t, s, pep.Host, pep.Username, nil)
	for _, svc := range []storage.PubSubService{pep, comp, {Host: "example.org", Username: "nobody"}} {
		mustNodes(t, ps, svc)
		wantNoNode(t, ps, svc, "n")
		affs, err := ps.PubSubAffiliationsOf(t.Context(), svc, "x@y")
		if err != nil || len(affs) != 0 {
			t.Errorf("PubSubAffiliationsOf(%v) = %v, %v", svc, affs, err)
		}
		subs, err := ps.PubSubSubscriptionsOf(t.Context(), svc, "x@y")
		if err != nil || len(subs) != 0 {
			t.Errorf("PubSubSubscriptionsOf(%v) = %v, %v", svc, subs, err)
		}
	}
}

func testPubSubCreate(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	before := time.Now()
	if err := ps.CreatePubSubNode(ctx, pep, "urn:xmpp:avatar:metadata", "alice@example.org/phone", pepConfig(1), 0); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	n, err := ps.GetPubSubNode(ctx, pep, "urn:xmpp:avatar:metadata")
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "urn:xmpp:avatar:metadata" || n.Creator != "alice@example.org/phone" || n.Created.Location() != time.UTC {
		t.Errorf("Node = %+v", n)
	}
	assertCreatedNear(t, n.Created, before, after)
	err = ps.CreatePubSubNode(ctx, pep, "urn:xmpp:avatar:metadata", "alice@example.org/other", pepConfig(5), 0)
	wantErr(t, "CreateNode of an existing node", err, storage.ErrConflict)
	if again, _ := ps.GetPubSubNode(ctx, pep, "urn:xmpp:avatar:metadata"); !reflect.DeepEqual(again, n) {
		t.Errorf("the conflicting create changed the node: %+v", again)
	}

	// Odd names, listed in byte order; a name differing only in case or
	// trailing space is another node.
	for _, name := range []string{"b", "B", "b ", "", "é", "a'\"\\%_"} {
		mustCreateNode(t, ps, pep, name, pepConfig(1))
	}
	mustNodes(t, ps, pep, byteOrder([]string{"urn:xmpp:avatar:metadata", "b", "B", "b ", "", "é", "a'\"\\%_"})...)

	// An account's service needs the account; a component's does not.
	for _, user := range []string{"bob", "Alice", "alice "} {
		err := ps.CreatePubSubNode(ctx, storage.PubSubService{Host: "example.org", Username: user}, "n", "x", pepConfig(1), 0)
		wantErr(t, fmt.Sprintf("CreateNode for missing account %q", user), err, storage.ErrNotFound)
	}
	err = ps.CreatePubSubNode(ctx, storage.PubSubService{Host: "example.net", Username: "alice"}, "n", "x", pepConfig(1), 0)
	wantErr(t, "CreateNode for an account of another host", err, storage.ErrNotFound)
	mustCreateNode(t, ps, comp, "n", pepConfig(1))
	mustNodes(t, ps, comp, "n")

	bad := pepConfig(-1)
	if err := ps.CreatePubSubNode(ctx, pep, "neg", "x", bad, 0); err == nil {
		t.Error("CreateNode with a negative MaxItems succeeded")
	}
	wantNoNode(t, ps, pep, "neg")
}

func testPubSubConfig(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	cfg := pepConfig(7)
	mustCreateNode(t, ps, pep, "full", cfg)
	mustCreateNode(t, ps, pep, "zero", storage.PubSubConfig{})
	check := func(node string, want storage.PubSubConfig) {
		t.Helper()
		n, err := ps.GetPubSubNode(ctx, pep, node)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(n.Config, want) {
			t.Errorf("GetPubSubNode(%q).Config =\n %+v\nwant %+v", node, n.Config, want)
		}
		nodes, err := ps.PubSubNodes(ctx, pep)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.Name == node && !reflect.DeepEqual(n.Config, want) {
				t.Errorf("Nodes: %q config =\n %+v\nwant %+v", node, n.Config, want)
			}
		}
	}
	check("full", cfg)
	check("zero", storage.PubSubConfig{})

	// Every field changes; the flags flip.
	next := storage.PubSubConfig{Title: "", Description: "new", Type: "", AccessModel: "open",
		PublishModel: "open", MaxItems: 3, SendLastPublishedItem: "never", NotificationType: "normal"}
	if err := ps.ConfigurePubSubNode(ctx, pep, "full", next); err != nil {
		t.Fatal(err)
	}
	check("full", next)
	if err := ps.ConfigurePubSubNode(ctx, pep, "full", pepConfig(-2)); err == nil {
		t.Error("ConfigureNode with a negative MaxItems succeeded")
	}
	check("full", next)
}

func testPubSubNodeLimit(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreate(t, s, other.Host, other.Username, nil)
	for i := range 3 {
		if err := ps.CreatePubSubNode(ctx, pep, fmt.Sprint("n", i), "x", pepConfig(1), 3); err != nil {
			t.Fatalf("CreateNode %d under the limit: %v", i, err)
		}
	}
	wantErr(t, "CreateNode over the limit", ps.CreatePubSubNode(ctx, pep, "n3", "x", pepConfig(1), 3), storage.ErrQuota)
	wantErr(t, "CreateNode of an existing node at the limit", ps.CreatePubSubNode(ctx, pep, "n0", "x", pepConfig(1), 3), storage.ErrConflict)
	if err := ps.CreatePubSubNode(ctx, pep, "n3", "x", pepConfig(1), 4); err != nil {
		t.Errorf("CreateNode under a raised limit: %v", err)
	}
	if err := ps.CreatePubSubNode(ctx, pep, "n4", "x", pepConfig(1), 0); err != nil {
		t.Errorf("CreateNode without limit: %v", err)
	}
	// Another service has its own count.
	if err := ps.CreatePubSubNode(ctx, other, "n0", "x", pepConfig(1), 1); err != nil {
		t.Errorf("CreateNode for bob: %v", err)
	}
	if _, err := ps.DeletePubSubNode(ctx, pep, "n0"); err != nil {
		t.Fatal(err)
	}
	if err := ps.CreatePubSubNode(ctx, pep, "n5", "x", pepConfig(1), 5); err != nil {
		t.Errorf("CreateNode after a delete made room: %v", err)
	}
}

func testPubSubServicesApart(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreate(t, s, other.Host, other.Username, nil)
	// The component's host is an account's host elsewhere: still apart.
	hostSvc := storage.PubSubService{Host: "example.org"}
	for _, svc := range []storage.PubSubService{pep, other, comp, hostSvc} {
		mustCreateNode(t, ps, svc, "n", pepConfig(5))
		mustPublish(t, ps, svc, "n", svc.String())
		if err := ps.SetPubSubAffiliation(ctx, svc, "n", "x@y", storage.PubSubMember); err != nil {
			t.Fatal(err)
		}
		if err := ps.SetPubSubSubscription(ctx, svc, "n", storage.PubSubSubscription{JID: "x@y", SubID: svc.String(), State: storage.PubSubSubscribed}); err != nil {
			t.Fatal(err)
		}
	}
	for _, svc := range []storage.PubSubService{pep, other, comp, hostSvc} {
		mustItems(t, ps, svc, "n", 0, svc.String())
		sub, err := ps.GetPubSubSubscription(ctx, svc, "n", "x@y")
		if err != nil || sub.SubID != svc.String() {
			t.Errorf("GetPubSubSubscription(%v) = %+v, %v", svc, sub, err)
		}
	}
	if err := ps.PurgePubSubNode(ctx, pep, "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.DeletePubSubNode(ctx, other, "n"); err != nil {
		t.Fatal(err)
	}
	mustItems(t, ps, pep, "n", 0)
	wantNoNode(t, ps, other, "n")
	mustItems(t, ps, comp, "n", 0, comp.String())
	mustItems(t, ps, hostSvc, "n", 0, hostSvc.String())
}

func testPubSubPublish(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(10))
	before := time.Now()
	mustPublish(t, ps, pep, "n", "a")
	after := time.Now()
	items := mustItems(t, ps, pep, "n", 0, "a")
	assertCreatedNear(t, items[0].Published, before, after)
	if items[0].Publisher != "alice@example.org/p" {
		t.Errorf("Publisher = %q", items[0].Publisher)
	}
	time.Sleep(2 * time.Millisecond)
	mustPublish(t, ps, pep, "n", "b")
	mustPublish(t, ps, pep, "n", "c")
	mustItems(t, ps, pep, "n", 0, "c", "b", "a")
	// Republishing replaces the item and makes it the newest.
	time.Sleep(2 * time.Millisecond)
	dropped, err := ps.PublishPubSubItem(ctx, pep, "n", storage.PubSubItem{ID: "a", Publisher: "alice@example.org/q", Payload: payload("a")})
	if err != nil || len(dropped) != 0 {
		t.Fatalf("republish: %v, %v", dropped, err)
	}
	got := mustItems(t, ps, pep, "n", 0, "a", "c", "b")
	if got[0].Publisher != "alice@example.org/q" || !got[0].Published.After(items[0].Published) {
		t.Errorf("republished item %+v, first published %v", got[0], items[0].Published)
	}
	mustItems(t, ps, pep, "n", 2, "a", "c")
	mustItems(t, ps, pep, "n", 1, "a")
	mustItems(t, ps, pep, "n", -1, "a", "c", "b")

	// An empty payload (a notification without one) and odd IDs.
	for _, id := range []string{"", "é", "a ", "'\"\\%"} {
		if _, err := ps.PublishPubSubItem(ctx, pep, "n", storage.PubSubItem{ID: id, Publisher: "p", Payload: payload(id)}); err != nil {
			t.Fatalf("publish %q: %v", id, err)
		}
	}
	mustItems(t, ps, pep, "n", 0, "'\"\\%", "a ", "é", "", "a", "c", "b")
	if _, err := ps.PublishPubSubItem(ctx, pep, "n", storage.PubSubItem{ID: "empty", Publisher: "p"}); err != nil {
		t.Fatal(err)
	}
	one, err := ps.PubSubItemsByID(ctx, pep, "n", []string{"empty"})
	if err != nil || len(one) != 1 || len(one[0].Payload) != 0 {
		t.Errorf("PubSubItemsByID(empty) = %+v, %v", one, err)
	}
	// A big payload round-trips.
	big := bytes.Repeat(payload("big"), 20000)
	if _, err := ps.PublishPubSubItem(ctx, pep, "n", storage.PubSubItem{ID: "big", Publisher: "p", Payload: big}); err != nil {
		t.Fatal(err)
	}
	one, err = ps.PubSubItemsByID(ctx, pep, "n", []string{"big"})
	if err != nil || len(one) != 1 || !bytes.Equal(one[0].Payload, big) {
		t.Errorf("big payload did not round-trip: %v", err)
	}
}

func testPubSubMaxItems(t *testing.T, s storage.Store) {
	ps := pubsubOf(t, s)
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "one", pepConfig(1))
	mustPublish(t, ps, pep, "one", "a")
	mustPublish(t, ps, pep, "one", "b", "a")
	mustPublish(t, ps, pep, "one", "b")
	mustItems(t, ps, pep, "one", 0, "b")

	mustCreateNode(t, ps, pep, "three", pepConfig(3))
	for _, id := range []string{"a", "b", "c"} {
		mustPublish(t, ps, pep, "three", id)
	}
	mustPublish(t, ps, pep, "three", "d", "a")
	mustPublish(t, ps, pep, "three", "b") // republished: nothing dropped
	mustItems(t, ps, pep, "three", 0, "b", "d", "c")
	mustPublish(t, ps, pep, "three", "e", "c")
	mustItems(t, ps, pep, "three", 0, "e", "b", "d")

	// MaxItems 0 keeps nothing, and drops what an earlier configuration
	// kept.
	mustCreateNode(t, ps, pep, "none", pepConfig(2))
	mustPublish(t, ps, pep, "none", "a")
	mustPublish(t, ps, pep, "none", "b")
	cfg := pepConfig(0)
	if err := ps.ConfigurePubSubNode(t.Context(), pep, "none", cfg); err != nil {
		t.Fatal(err)
	}
	mustItems(t, ps, pep, "none", 0)
	mustPublish(t, ps, pep, "none", "c")
	mustItems(t, ps, pep, "none", 0)
}

func testPubSubConfigureTrims(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(5))
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		mustPublish(t, ps, pep, "n", id)
	}
	if err := ps.ConfigurePubSubNode(ctx, pep, "n", pepConfig(2)); err != nil {
		t.Fatal(err)
	}
	mustItems(t, ps, pep, "n", 0, "e", "d")
	mustPublish(t, ps, pep, "n", "f", "d")
	if err := ps.ConfigurePubSubNode(ctx, pep, "n", pepConfig(10)); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, ps, pep, "n", "g")
	mustItems(t, ps, pep, "n", 0, "g", "f", "e")
}

func testPubSubItemLookups(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(10))
	for _, id := range []string{"a", "b", "c"} {
		mustPublish(t, ps, pep, "n", id)
	}
	got, err := ps.PubSubItemsByID(ctx, pep, "n", []string{"a", "zz", "c", "a", "A"})
	if err != nil {
		t.Fatal(err)
	}
	checkItems(t, "ItemsByID", got, []string{"c", "a"})
	got, err = ps.PubSubItemsByID(ctx, pep, "n", []string{"zz"})
	if err != nil || len(got) != 0 {
		t.Errorf("PubSubItemsByID(zz) = %v, %v", got, err)
	}
	got, err = ps.PubSubItemsByID(ctx, pep, "n", nil)
	if err != nil || len(got) != 0 {
		t.Errorf("PubSubItemsByID(nil) = %v, %v", got, err)
	}

	mustCreateNode(t, ps, pep, "empty", pepConfig(1))
	mustCreateNode(t, ps, pep, "m", pepConfig(1))
	mustPublish(t, ps, pep, "m", "x")
	mustCreateNode(t, ps, comp, "n", pepConfig(1))
	mustPublish(t, ps, comp, "n", "comp")
	last, err := ps.LastPubSubItems(ctx, pep, []string{"n", "m", "empty", "missing", "n"})
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 2 || last["n"].ID != "c" || last["m"].ID != "x" || !bytes.Equal(last["n"].Payload, payload("c")) ||
		last["m"].Publisher != "alice@example.org/p" || last["m"].Published.Location() != time.UTC {
		t.Errorf("LastItems = %+v", last)
	}
	last, err = ps.LastPubSubItems(ctx, pep, nil)
	if err != nil || len(last) != 0 {
		t.Errorf("LastPubSubItems(nil) = %v, %v", last, err)
	}
}

func testPubSubRetractPurge(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(10))
	for _, id := range []string{"a", "b", "c"} {
		mustPublish(t, ps, pep, "n", id)
	}
	if err := ps.RetractPubSubItem(ctx, pep, "n", "b"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "RetractItem again", ps.RetractPubSubItem(ctx, pep, "n", "b"), storage.ErrNotFound)
	wantErr(t, "RetractItem B", ps.RetractPubSubItem(ctx, pep, "n", "B"), storage.ErrNotFound)
	mustItems(t, ps, pep, "n", 0, "c", "a")
	mustPublish(t, ps, pep, "n", "b")
	mustItems(t, ps, pep, "n", 0, "b", "c", "a")
	if err := ps.PurgePubSubNode(ctx, pep, "n"); err != nil {
		t.Fatal(err)
	}
	mustItems(t, ps, pep, "n", 0)
	if err := ps.PurgePubSubNode(ctx, pep, "n"); err != nil {
		t.Errorf("PurgeNode of an empty node: %v", err)
	}
	// The node, its configuration and its subscriptions stay.
	if _, err := ps.GetPubSubNode(ctx, pep, "n"); err != nil {
		t.Error(err)
	}
	mustPublish(t, ps, pep, "n", "d")
	mustItems(t, ps, pep, "n", 0, "d")
}

func testPubSubDeleteNode(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(10))
	mustCreateNode(t, ps, pep, "keep", pepConfig(10))
	mustPublish(t, ps, pep, "n", "a")
	mustPublish(t, ps, pep, "keep", "a")
	subs := []storage.PubSubSubscription{
		{JID: "b@x", SubID: "2", State: storage.PubSubPending},
		{JID: "a@x/r", SubID: "1", State: storage.PubSubSubscribed},
	}
	for _, sub := range subs {
		for _, node := range []string{"n", "keep"} {
			if err := ps.SetPubSubSubscription(ctx, pep, node, sub); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ps.SetPubSubAffiliation(ctx, pep, "n", "a@x", storage.PubSubPublisher); err != nil {
		t.Fatal(err)
	}
	got, err := ps.DeletePubSubNode(ctx, pep, "n")
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(subs)
	if !reflect.DeepEqual(got, subs) {
		t.Errorf("DeleteNode returned %+v, want %+v", got, subs)
	}
	wantNoNode(t, ps, pep, "n")
	mustNodes(t, ps, pep, "keep")
	mustItems(t, ps, pep, "keep", 0, "a")
	if all, err := ps.PubSubSubscriptions(ctx, pep, "keep"); err != nil || len(all) != 2 {
		t.Errorf("PubSubSubscriptions(keep) = %v, %v", all, err)
	}
	got, err = ps.DeletePubSubNode(ctx, pep, "keep")
	if err != nil || len(got) != 2 {
		t.Errorf("DeletePubSubNode(keep) = %v, %v", got, err)
	}

	// A node created again under the same name starts empty.
	mustCreateNode(t, ps, pep, "n", pepConfig(10))
	mustItems(t, ps, pep, "n", 0)
	if all, err := ps.PubSubSubscriptions(ctx, pep, "n"); err != nil || len(all) != 0 {
		t.Errorf("Subscriptions of the new node = %v, %v", all, err)
	}
	if aff, err := ps.GetPubSubAffiliation(ctx, pep, "n", "a@x"); err != nil || aff != storage.PubSubNone {
		t.Errorf("Affiliation in the new node = %q, %v", aff, err)
	}
	got, err = ps.DeletePubSubNode(ctx, pep, "n")
	if err != nil || len(got) != 0 {
		t.Errorf("DeleteNode without subscriptions = %v, %v", got, err)
	}
}

func testPubSubAffiliations(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(1))
	mustCreateNode(t, ps, pep, "m", pepConfig(1))
	mustCreateNode(t, ps, pep, "o", pepConfig(1))
	set := func(node, jid, aff string) {
		t.Helper()
		if err := ps.SetPubSubAffiliation(ctx, pep, node, jid, aff); err != nil {
			t.Fatalf("SetPubSubAffiliation(%q, %q, %q): %v", node, jid, aff, err)
		}
	}
	get := func(node, jid, want string) {
		t.Helper()
		got, err := ps.GetPubSubAffiliation(ctx, pep, node, jid)
		if err != nil || got != want {
			t.Errorf("GetPubSubAffiliation(%q, %q) = %q, %v; want %q", node, jid, got, err, want)
		}
	}
	get("n", "alice@example.org", storage.PubSubNone)
	set("n", "alice@example.org", storage.PubSubOwner)
	set("n", "x@y", storage.PubSubMember)
	set("n", "X@y", storage.PubSubOutcast)
	set("n", "p@y/r", storage.PubSubPublishOnly)
	set("m", "x@y", storage.PubSubPublisher)
	get("n", "x@y", storage.PubSubMember)
	get("n", "X@y", storage.PubSubOutcast)
	get("n", "x@y/r", storage.PubSubNone)
	set("n", "x@y", storage.PubSubPublisher)
	get("n", "x@y", storage.PubSubPublisher)
	affs, err := ps.PubSubAffiliations(ctx, pep, "n")
	want := []storage.PubSubAffiliation{{JID: "X@y", Affiliation: "outcast"}, {JID: "alice@example.org", Affiliation: "owner"},
		{JID: "p@y/r", Affiliation: "publish-only"}, {JID: "x@y", Affiliation: "publisher"}}
	if err != nil || !reflect.DeepEqual(affs, want) {
		t.Errorf("PubSubAffiliations(n) = %+v, %v\nwant %+v", affs, err, want)
	}
	of, err := ps.PubSubAffiliationsOf(ctx, pep, "x@y")
	wantOf := []storage.PubSubAffiliation{{Node: "m", JID: "x@y", Affiliation: "publisher"}, {Node: "n", JID: "x@y", Affiliation: "publisher"}}
	if err != nil || !reflect.DeepEqual(of, wantOf) {
		t.Errorf("PubSubAffiliationsOf(x@y) = %+v, %v\nwant %+v", of, err, wantOf)
	}
	set("n", "x@y", storage.PubSubNone)
	set("n", "never@y", storage.PubSubNone) // removing nothing is fine
	get("n", "x@y", storage.PubSubNone)
	if affs, _ := ps.PubSubAffiliations(ctx, pep, "o"); len(affs) != 0 {
		t.Errorf("PubSubAffiliations(o) = %v", affs)
	}
	for _, bad := range []string{"", "Owner", "admin"} {
		if err := ps.SetPubSubAffiliation(ctx, pep, "n", "z@y", bad); err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SetPubSubAffiliation(%q) = %v, want a non-sentinel error", bad, err)
		}
	}
	get("n", "z@y", storage.PubSubNone)
}

func testPubSubSubscriptions(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(1))
	mustCreateNode(t, ps, pep, "m", pepConfig(1))
	set := func(node string, sub storage.PubSubSubscription) {
		t.Helper()
		if err := ps.SetPubSubSubscription(ctx, pep, node, sub); err != nil {
			t.Fatalf("SetPubSubSubscription(%q, %+v): %v", node, sub, err)
		}
	}
	_, err := ps.GetPubSubSubscription(ctx, pep, "n", "x@y")
	wantErr(t, "Subscription before any", err, storage.ErrNotFound)
	set("n", storage.PubSubSubscription{JID: "x@y", SubID: "s1", State: storage.PubSubPending})
	set("n", storage.PubSubSubscription{JID: "x@y/r", SubID: "s2", State: storage.PubSubSubscribed})
	set("m", storage.PubSubSubscription{JID: "x@y", SubID: "s3", State: storage.PubSubUnconfigured})
	set("n", storage.PubSubSubscription{JID: "x@y", SubID: "s4", State: storage.PubSubSubscribed})
	sub, err := ps.GetPubSubSubscription(ctx, pep, "n", "x@y")
	if err != nil || sub != (storage.PubSubSubscription{JID: "x@y", SubID: "s4", State: storage.PubSubSubscribed}) {
		t.Errorf("Subscription = %+v, %v", sub, err)
	}
	subs, err := ps.PubSubSubscriptions(ctx, pep, "n")
	want := []storage.PubSubSubscription{{JID: "x@y", SubID: "s4", State: "subscribed"}, {JID: "x@y/r", SubID: "s2", State: "subscribed"}}
	if err != nil || !reflect.DeepEqual(subs, want) {
		t.Errorf("Subscriptions = %+v, %v\nwant %+v", subs, err, want)
	}
	of, err := ps.PubSubSubscriptionsOf(ctx, pep, "x@y")
	wantOf := []storage.PubSubSubscription{{Node: "m", JID: "x@y", SubID: "s3", State: "unconfigured"}, {Node: "n", JID: "x@y", SubID: "s4", State: "subscribed"}}
	if err != nil || !reflect.DeepEqual(of, wantOf) {
		t.Errorf("SubscriptionsOf = %+v, %v\nwant %+v", of, err, wantOf)
	}
	if err := ps.DeletePubSubSubscription(ctx, pep, "n", "x@y"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteSubscription again", ps.DeletePubSubSubscription(ctx, pep, "n", "x@y"), storage.ErrNotFound)
	_, err = ps.GetPubSubSubscription(ctx, pep, "n", "x@y")
	wantErr(t, "Subscription after delete", err, storage.ErrNotFound)
	if _, err := ps.GetPubSubSubscription(ctx, pep, "m", "x@y"); err != nil {
		t.Errorf("the other node's subscription went too: %v", err)
	}
	for _, bad := range []string{"", "none", "Subscribed"} {
		err := ps.SetPubSubSubscription(ctx, pep, "n", storage.PubSubSubscription{JID: "z@y", State: bad})
		if err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SetPubSubSubscription(state %q) = %v, want a non-sentinel error", bad, err)
		}
	}
}

func testPubSubDeleteAccount(t *testing.T, s storage.Store) {
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreate(t, s, other.Host, other.Username, nil)
	hostSvc := storage.PubSubService{Host: "example.org"}
	for _, svc := range []storage.PubSubService{pep, other, hostSvc} {
		for _, node := range []string{"a", "b"} {
			mustCreateNode(t, ps, svc, node, pepConfig(3))
			mustPublish(t, ps, svc, node, "i")
			if err := ps.SetPubSubAffiliation(ctx, svc, node, "x@y", storage.PubSubMember); err != nil {
				t.Fatal(err)
			}
			if err := ps.SetPubSubSubscription(ctx, svc, node, storage.PubSubSubscription{JID: "x@y", SubID: "1", State: storage.PubSubSubscribed}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.DeleteAccount(ctx, pep.Host, pep.Username); err != nil {
		t.Fatal(err)
	}
	mustNodes(t, ps, pep)
	wantNoNode(t, ps, pep, "a")
	for _, svc := range []storage.PubSubService{other, hostSvc} {
		mustNodes(t, ps, svc, "a", "b")
		mustItems(t, ps, svc, "a", 0, "i")
		if subs, err := ps.PubSubSubscriptionsOf(ctx, svc, "x@y"); err != nil || len(subs) != 2 {
			t.Errorf("PubSubSubscriptionsOf(%v) = %v, %v", svc, subs, err)
		}
	}
	// Created again, the account has an empty service.
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustNodes(t, ps, pep)
	if affs, err := ps.PubSubAffiliationsOf(ctx, pep, "x@y"); err != nil || len(affs) != 0 {
		t.Errorf("AffiliationsOf after re-creation = %v, %v", affs, err)
	}
	mustCreateNode(t, ps, pep, "a", pepConfig(3))
	mustItems(t, ps, pep, "a", 0)
}

// testPubSubConcurrentPublish has goroutines publish distinct items to one
// node: the node ends with exactly MaxItems items, the newest by the
// order the store reports, and every item is reported dropped at most once.
func testPubSubConcurrentPublish(t *testing.T, s storage.Store) {
	const goroutines, each, keep = 8, 10, 5
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	mustCreateNode(t, ps, pep, "n", pepConfig(keep))
	var (
		mu      sync.Mutex
		dropped = map[string]int{}
	)
	together(goroutines, func(g int) {
		for i := range each {
			id := fmt.Sprint(g, "-", i)
			d, err := ps.PublishPubSubItem(ctx, pep, "n", storage.PubSubItem{ID: id, Publisher: "p", Payload: payload(id)})
			if err != nil {
				t.Errorf("PublishItem: %v", err)
				return
			}
			mu.Lock()
			for _, id := range d {
				dropped[id]++
			}
			mu.Unlock()
		}
	})
	items, err := ps.PubSubItems(ctx, pep, "n", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != keep {
		t.Fatalf("%d items kept, want %d", len(items), keep)
	}
	if len(dropped) != goroutines*each-keep {
		t.Errorf("%d items reported dropped, want %d", len(dropped), goroutines*each-keep)
	}
	for id, n := range dropped {
		if n != 1 {
			t.Errorf("item %s reported dropped %d times", id, n)
		}
	}
	for _, it := range items {
		if dropped[it.ID] != 0 {
			t.Errorf("item %s is kept but was reported dropped", it.ID)
		}
		if !bytes.Equal(it.Payload, payload(it.ID)) {
			t.Errorf("item %s has payload %q", it.ID, it.Payload)
		}
	}
	// Each goroutine publishes its items in order, so among the kept ones,
	// newest first, each goroutine's come in decreasing order.
	prev := map[string]int{}
	for _, it := range items {
		var g, i int
		if _, err := fmt.Sscanf(it.ID, "%d-%d", &g, &i); err != nil {
			t.Fatalf("item %q: %v", it.ID, err)
		}
		key := fmt.Sprint(g)
		if p, ok := prev[key]; ok && i >= p {
			t.Errorf("item %s listed after %d-%d, which was published before it", it.ID, g, p)
		}
		prev[key] = i
	}
}

// testPubSubConcurrentCreate has goroutines create nodes against one
// limit: exactly limit succeed.
func testPubSubConcurrentCreate(t *testing.T, s storage.Store) {
	const goroutines, limit = 12, 5
	ps, ctx := pubsubOf(t, s), t.Context()
	mustCreate(t, s, pep.Host, pep.Username, nil)
	var (
		mu       sync.Mutex
		ok, full int
	)
	together(goroutines, func(g int) {
		err := ps.CreatePubSubNode(ctx, pep, fmt.Sprint("n", g), "x", pepConfig(1), limit)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			ok++
		case errors.Is(err, storage.ErrQuota):
			full++
		default:
			t.Errorf("CreateNode: %v", err)
		}
	})
	if ok != limit || full != goroutines-limit {
		t.Errorf("%d creates succeeded and %d hit the limit, want %d and %d", ok, full, limit, goroutines-limit)
	}
	nodes, err := ps.PubSubNodes(ctx, pep)
	if err != nil || len(nodes) != limit {
		t.Errorf("Nodes = %d, %v; want %d", len(nodes), err, limit)
	}
}
