package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// Archive figures on a realistic archive: run with -bench only, e.g.
//
//	go test ./storage/postgres -run '^$' -bench BenchmarkArchive -benchtime 2s
//
// It skips without PostgreSQL (fails under CI=true, as the other tests).

const (
	benchArchiveSize  = 100_000 // entries in alice's archive
	benchArchiveBatch = 5_000   // entries per AppendArchive while filling it
	benchContacts     = 20      // distinct With JIDs, round robin
)

var benchT0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// benchEntry is the i-th entry of user's archive: one second apart, with
// contact i%benchContacts, alternately received and sent.
func benchEntry(user string, i int) storage.ArchiveEntry {
	with := fmt.Sprintf("contact%d@example.net", i%benchContacts)
	dir := storage.ArchiveIncoming
	from, to := with+"/phone", user+"@example.org"
	if i%2 == 1 {
		dir = storage.ArchiveOutgoing
		from, to = user+"@example.org/laptop", with
	}
	id := fmt.Sprintf("%s-%08d", user, i)
	return storage.ArchiveEntry{
		Host: "example.org", Username: user, ID: id,
		With: with, WithResource: "phone", Direction: dir,
		OriginID: "o" + id,
		Stamp:    benchT0.Add(time.Duration(i) * time.Second),
		Stanza: fmt.Appendf(nil, `<message xmlns='jabber:client' from='%s' to='%s' type='chat' id='m%d'>`+
			`<body>Message number %d, of ordinary length for a chat line.</body>`+
			`<origin-id xmlns='urn:xmpp:sid:0' id='o%s'/></message>`, from, to, i, i, id),
	}
}

func BenchmarkArchive(b *testing.B) {
	s := openStore(b, freshSchema(b), true)
	ctx := context.Background()
	creds := []storage.Credential{{Hash: storage.HashSHA256, Salt: []byte{1}, Iterations: 4096, StoredKey: []byte{2}, ServerKey: []byte{3}}}
	for _, u := range []string{"alice", "writer"} {
		if err := s.CreateAccount(ctx, "example.org", u, creds); err != nil {
			b.Fatal(err)
		}
	}

	start := time.Now()
	batch := make([]storage.ArchiveEntry, 0, benchArchiveBatch)
	for i := range benchArchiveSize {
		batch = append(batch, benchEntry("alice", i))
		if len(batch) == cap(batch) || i == benchArchiveSize-1 {
			if err := s.AppendArchive(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	fill := time.Since(start)
	// The steady state autovacuum reaches: statistics, and the visibility
	// map that lets count(*) use index-only scans.
	if _, err := s.pool.Exec(ctx, "VACUUM ANALYZE archive"); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d entries in batches of %d in %v (%.0f entries/s)",
		benchArchiveSize, benchArchiveBatch, fill.Round(time.Millisecond), benchArchiveSize/fill.Seconds())

	query := func(b *testing.B, q storage.ArchiveQuery, check func(storage.ArchivePage) error) {
		b.Helper()
		for b.Loop() {
			p, err := s.QueryArchive(ctx, "example.org", "alice", q)
			if err != nil {
				b.Fatal(err)
			}
			if err := check(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	id := func(i int) string { return fmt.Sprintf("alice-%08d", i) }

	// The latest 50: RSM <before/> empty, the last page (XEP-0313 §5.1).
	b.Run("FirstPage", func(b *testing.B) {
		query(b, storage.ArchiveQuery{Max: 50, Backward: true}, func(p storage.ArchivePage) error {
			if len(p.Entries) != 50 || p.Entries[49].ID != id(benchArchiveSize-1) || p.Count != benchArchiveSize {
				return fmt.Errorf("last page: %d entries, count %d", len(p.Entries), p.Count)
			}
			return nil
		})
	})
	// 50 entries after the 50,000th (RSM <after/>).
	b.Run("DeepPage", func(b *testing.B) {
		query(b, storage.ArchiveQuery{Max: 50, After: id(49_999)}, func(p storage.ArchivePage) error {
			if len(p.Entries) != 50 || p.Entries[0].ID != id(50_000) || p.Index != 50_000 {
				return fmt.Errorf("deep page: %d entries from index %d", len(p.Entries), p.Index)
			}
			return nil
		})
	})
	// The latest 50 with one contact (5,000 of the 100,000).
	b.Run("With", func(b *testing.B) {
		want := benchArchiveSize / benchContacts
		query(b, storage.ArchiveQuery{With: "contact7@example.net", Max: 50, Backward: true}, func(p storage.ArchivePage) error {
			if len(p.Entries) != 50 || p.Count != want || p.Entries[0].With != "contact7@example.net" {
				return fmt.Errorf("with: %d entries, count %d, want %d", len(p.Entries), p.Count, want)
			}
			return nil
		})
	})
	// Writes, to another user's archive: entries/s is the figure.
	next := 0
	appendBench := func(b *testing.B, size int) {
		batch := make([]storage.ArchiveEntry, size)
		n := 0
		for b.Loop() {
			for j := range batch {
				batch[j] = benchEntry("writer", next)
				next++
			}
			if err := s.AppendArchive(ctx, batch); err != nil {
				b.Fatal(err)
			}
			n += size
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
	}
	b.Run("AppendBatch100", func(b *testing.B) { appendBench(b, 100) })
	b.Run("AppendSingle", func(b *testing.B) { appendBench(b, 1) })
}
