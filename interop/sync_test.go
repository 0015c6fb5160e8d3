//go:build unix

package interop_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// TestSlixmppCarbonsPEPAndMAM: what a user with several clients relies on,
// with slixmpp's own plugins. alice is online as A and B, both with
// carbons enabled (XEP-0280); bob, subscribed both ways through the
// clients' handshake, chats with A: B gets a received-carbon of each of
// bob's messages and a sent-carbon of each of A's, once. A publishes an
// OMEMO device list with publish-options access_model=open (XEP-0060
// §7.1.5) and bob, whose verified XEP-0115 caps say devicelist+notify,
// gets the PEP notification. A third resource C then pages through
// alice's archive with XEP-0313 at RSM max=2 and gets the six messages,
// once each, in order. The script (testdata/slixmpp_sync.py) exits
// non-zero unless all of it happened; the store must then agree: the
// node is open with the item, and the archive holds the six messages.
func TestSlixmppCarbonsPEPAndMAM(t *testing.T) {
	ctx, srv, _ := clientTest(t, requireSlixmpp)
	p := runSlixmpp(t, ctx, srv, "slixmpp_sync.py",
		"--alice", account(t, srv, "alice", "alice secret"),
		"--bob", account(t, srv, "bob", "bob secret"))
	p.expectOutput(t, "carbons-ok\n", "handshake-ok\n", "carbons-received-ok\n", "carbons-sent-ok\n",
		"pep-ok\n", "mam-ok pages=3 messages=6\n", "result ok\n",
		"bob pep-event from=alice@localhost type=headline node=eu.siacs.conversations.axolotl.devicelist item=current ")

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	page, err := srv.Store().QueryArchive(sctx, "localhost", "alice", storage.ArchiveQuery{Max: 100})
	if err != nil || page.Count != 6 {
		t.Errorf("alice's stored archive: count %d, %v; want 6", page.Count, err)
	}
	const node = "eu.siacs.conversations.axolotl.devicelist"
	svc := storage.PubSubService{Host: "localhost", Username: "alice"}
	nodes, err := srv.Store().PubSubNodes(sctx, svc)
	found := false
	for _, n := range nodes {
		if n.Name == node {
			found = true
			if n.Config.AccessModel != "open" {
				t.Errorf("stored node %s: access model %q, want open", node, n.Config.AccessModel)
			}
		}
	}
	if err != nil || !found {
		t.Errorf("stored nodes of alice: %+v, %v; want %s", nodes, err, node)
	}
	items, err := srv.Store().PubSubItems(sctx, svc, node, 0)
	if err != nil || len(items) != 1 || items[0].ID != "current" || !strings.Contains(string(items[0].Payload), "12345") {
		t.Errorf("stored items of %s: %+v, %v; want current with device 12345", node, items, err)
	}
}
