package storagetest

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// BenchmarkUpdateRosterItem measures UpdateRosterItem changing an item's
// name, as a roster set from a client does: Serial in one roster of 200
// items, Parallel with every goroutine in a roster of its own.
func BenchmarkUpdateRosterItem(b *testing.B, s storage.Store) {
	ctx := context.Background()
	const host, rosterSize = "example.org", 200
	rename := func(cur *storage.RosterItem) (*storage.RosterItem, error) {
		if cur == nil {
			cur = &storage.RosterItem{Subscription: storage.SubBoth, Groups: []string{"Friends"}}
		}
		n, _ := strconv.Atoi(cur.Name)
		cur.Name = strconv.Itoa(n + 1)
		return cur, nil
	}
	if err := s.CreateAccount(ctx, host, "alice", nil); err != nil {
		b.Fatal(err)
	}
	for i := range rosterSize {
		if _, _, err := s.UpdateRosterItem(ctx, host, "alice", fmt.Sprintf("contact%03d@example.net", i), rename); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if _, _, err := s.UpdateRosterItem(ctx, host, "alice", fmt.Sprintf("contact%03d@example.net", i%rosterSize), rename); err != nil {
				b.Fatal(err)
			}
		}
	})
	var users atomic.Int64
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			user := fmt.Sprint("user", users.Add(1))
			if err := s.CreateAccount(ctx, host, user, nil); err != nil {
				b.Error(err)
				return
			}
			for i := 0; pb.Next(); i++ {
				if _, _, err := s.UpdateRosterItem(ctx, host, user, fmt.Sprintf("contact%02d@example.net", i%20), rename); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkPushOffline measures PushOffline of a 300-byte message with a
// limit of 1000, spread over 1000 users.
func BenchmarkPushOffline(b *testing.B, s storage.Store) {
	ctx := context.Background()
	const host, users, limit = "example.org", 1000, 1000
	for i := range users {
		if err := s.CreateAccount(ctx, host, fmt.Sprint("user", i), nil); err != nil {
			b.Fatal(err)
		}
	}
	msg := []byte(`<message xmlns='jabber:client' from='bob@example.net/phone' to='alice@example.org' type='chat' id='5b2f7c1e-1d2a-4c9b-9d0e-6f1a2b3c4d5e'><body>` +
		`Are we still on for lunch tomorrow? I found a new place near the station.</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	var n atomic.Int64
	push := func() error {
		i := n.Add(1)
		return s.PushOffline(ctx, host, fmt.Sprint("user", i%users), msg, time.Now(), limit)
	}
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if err := push(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := push(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
