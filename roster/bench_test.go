package roster_test

import (
	"context"
	"fmt"
	"testing"

	"parley.im/parley/internal/storetest"
	"parley.im/parley/storage"
)

// benchRoster stores a roster of n contacts, all 'both', for alice.
func benchRoster(b *testing.B, n int) storage.Store {
	b.Helper()
	st := storetest.Open(b, "example.org", "alice")
	ctx := context.Background()
	for i := range n {
		_, _, err := st.UpdateRosterItem(ctx, "example.org", "alice", fmt.Sprintf("c%d@example.org", i),
			func(*storage.RosterItem) (*storage.RosterItem, error) {
				return &storage.RosterItem{JID: fmt.Sprintf("c%d@example.org", i), Name: "Contact", Subscription: storage.SubBoth, Groups: []string{"Friends"}}, nil
			})
		if err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// BenchmarkRosterItems reads a whole roster of 100 contacts, as the
// presence module does at every login (broadcast and probes).
func BenchmarkRosterItems(b *testing.B) {
	st := benchRoster(b, 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		items, _, err := st.RosterItems(ctx, "example.org", "alice")
		if err != nil || len(items) != 100 {
			b.Fatal(len(items), err)
		}
	}
}

// BenchmarkRosterItem looks up one contact in a roster of 100, as the
// presence module does for each subscription stanza and directed presence.
func BenchmarkRosterItem(b *testing.B) {
	st := benchRoster(b, 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		it, err := st.RosterItem(ctx, "example.org", "alice", "c42@example.org")
		if err != nil || it.Subscription != storage.SubBoth {
			b.Fatal(it, err)
		}
	}
}
