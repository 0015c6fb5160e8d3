package mam

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/storage"
)

// TestGroupCommit: a burst is written in few batches, in order.
func TestGroupCommit(t *testing.T) {
	e := setup(t, Options{BatchDelay: 50 * time.Millisecond, BatchSize: 8})
	for i := range 20 {
		e.send(t, e.bob, fmt.Sprintf(`<message to='alice@example.org' type='chat'><body>%d</body></message>`, i))
	}
	entries := e.archive(t, "alice")
	if len(entries) != 20 {
		t.Fatalf("%d entries", len(entries))
	}
	for i, en := range entries {
		if !strings.Contains(string(en.Stanza), fmt.Sprintf("<body>%d</body>", i)) {
			t.Errorf("entry %d: %s", i, en.Stanza)
		}
	}
	sizes := e.store.batchSizes()
	total := 0
	for _, n := range sizes {
		if n > 8 {
			t.Errorf("batch of %d, more than BatchSize", n)
		}
		total += n
	}
	// 40 entries (both archives), at most 8 a batch: at least 5 batches,
	// and far fewer than one per entry.
	if total != 40 || len(sizes) > 12 {
		t.Errorf("batches %v", sizes)
	}
}

// TestQueueFull: with the writer stuck, a message that does not fit in
// the queue is delivered without archiving and without stanza-id.
func TestQueueFull(t *testing.T) {
	e := setup(t, Options{QueueSize: 2, BatchSize: 1, BatchDelay: time.Millisecond})
	block := make(chan struct{})
	e.store.mu.Lock()
	e.store.block = block
	e.store.mu.Unlock()
	// The first entry is taken by the writer, which then blocks; two more
	// fill the queue; bob's outgoing copies take places too.
	var got []string
	for i := range 4 {
		e.send(t, e.bob, fmt.Sprintf(`<message to='alice@example.org' type='chat'><body>%d</body></message>`, i))
		got = append(got, stanzaID(t, e.alice.TakeOne(t), "alice@example.org"))
		time.Sleep(10 * time.Millisecond) // let the writer take what it can
	}
	if got[3] != "" {
		t.Errorf("a message that did not fit was stamped: %q", got)
	}
	e.store.mu.Lock()
	e.store.block = nil
	e.store.mu.Unlock()
	close(block)
	entries := e.archive(t, "alice")
	for _, en := range entries {
		if !slices.Contains(got, en.ID) {
			t.Errorf("entry %s was not stamped on delivery", en.ID)
		}
	}
	stamped := 0
	for _, id := range got {
		if id != "" {
			stamped++
		}
	}
	if stamped != len(entries) {
		t.Errorf("%d stamped, %d archived", stamped, len(entries))
	}
	if e.mam.w.dropped.Load() == 0 {
		t.Errorf("no drop counted")
	}
}

// TestWriteRetried: a failing write is tried again; one that keeps
// failing is given up, and the writer goes on.
func TestWriteRetried(t *testing.T) {
	e := setup(t, Options{})
	e.store.fail(1)
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>a</body></message>`)
	if n := len(e.archive(t, "alice")); n != 1 {
		t.Fatalf("after one failure: %d entries", n)
	}
	e.store.fail(writeRetries)
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>b</body></message>`)
	e.flush(t)
	if n := len(e.archive(t, "alice")); n != 1 {
		t.Fatalf("after giving up: %d entries", n)
	}
	if e.mam.w.lost.Load() == 0 {
		t.Errorf("no loss counted")
	}
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>c</body></message>`)
	if n := len(e.archive(t, "alice")); n != 2 {
		t.Fatalf("the writer stopped: %d entries", n)
	}
}

// TestStopWritesQueue: Stop writes what is queued; afterwards nothing is
// archived or stamped.
func TestStopWritesQueue(t *testing.T) {
	e := setup(t, Options{BatchDelay: time.Second, BatchSize: 1000})
	for i := range 10 {
		e.send(t, e.bob, fmt.Sprintf(`<message to='alice@example.org' type='chat'><body>%d</body></message>`, i))
	}
	if err := e.mam.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, err := e.store.QueryArchive(t.Context(), "example.org", "alice", storage.ArchiveQuery{Max: 100})
	if err != nil || p.Count != 10 {
		t.Fatalf("after Stop: %d entries, %v", p.Count, err)
	}
	e.alice.Take()
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>late</body></message>`)
	if id := stanzaID(t, e.alice.TakeOne(t), "alice@example.org"); id != "" {
		t.Errorf("stamped after Stop")
	}
	if err := e.mam.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestStopWithoutStart writes what was queued before Start.
func TestStopWithoutStart(t *testing.T) {
	st := &faulty{Store: openStore(t, "alice")}
	m := New(st, Options{})
	m.w = newWriter(st, m.opts, discard())
	owner := routertest.Parse(t, `<message/>`)
	if _, ok := m.archive(routertest.JID(t, "alice@example.org"), routertest.JID(t, "bob@example.org"), storage.ArchiveIncoming, owner); !ok {
		t.Fatal("not queued")
	}
	if err := m.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, err := st.QueryArchive(t.Context(), "example.org", "alice", storage.ArchiveQuery{Max: 10})
	if err != nil || p.Count != 1 {
		t.Fatalf("%d entries, %v", p.Count, err)
	}
}

// TestStampsNeverGoBack: entries keep arrival order when the clock steps
// back.
func TestStampsNeverGoBack(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>first</body></message>`)
	e.clock.Advance(-time.Hour)
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>second</body></message>`)
	entries := e.archive(t, "alice")
	if len(entries) != 2 || entries[1].Stamp.Before(entries[0].Stamp) {
		t.Fatalf("entries %+v", entries)
	}
	q := e.queryOK(t, e.laptop, "", "")
	if !slices.Equal(q.bodies(), []string{"first", "second"}) {
		t.Errorf("order: %v", q.bodies())
	}
}

func TestRetention(t *testing.T) {
	e := setup(t, Options{Retention: 48 * time.Hour})
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>old</body></message>`)
	e.clock.Advance(24 * time.Hour)
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>newer</body></message>`)
	e.flush(t)
	if n := e.mam.Purge(t.Context()); n != 0 {
		t.Fatalf("purged %d too early", n)
	}
	e.clock.Advance(24*time.Hour + time.Second)
	if n := e.mam.Purge(t.Context()); n != 2 { // alice's and bob's copies
		t.Fatalf("purged %d, want 2", n)
	}
	q := e.queryOK(t, e.laptop, "", "")
	if !slices.Equal(q.bodies(), []string{"newer"}) {
		t.Errorf("left: %v", q.bodies())
	}
	// Without a retention nothing is purged.
	e2 := setup(t, Options{})
	e2.send(t, e2.bob, `<message to='alice@example.org' type='chat'><body>kept</body></message>`)
	e2.flush(t)
	e2.clock.Advance(1000 * 24 * time.Hour)
	if n := e2.mam.Purge(t.Context()); n != 0 {
		t.Errorf("purged %d without a retention", n)
	}
}

// TestRetentionRunsPeriodically: Start runs the purge every interval.
func TestRetentionRunsPeriodically(t *testing.T) {
	e := setup(t, Options{Retention: time.Hour, PurgeInterval: 10 * time.Millisecond})
	e.send(t, e.bob, `<message to='alice@example.org' type='chat'><body>x</body></message>`)
	e.flush(t)
	e.clock.Advance(2 * time.Hour)
	deadline := time.Now().Add(routertest.WaitTimeout)
	for {
		p, err := e.store.QueryArchive(context.Background(), "example.org", "alice", storage.ArchiveQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Count == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the periodic purge did not run")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
