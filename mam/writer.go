package mam

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"parley.im/parley/storage"
)

// writer is the archive's group commit: hooks queue entries without
// waiting, and one goroutine writes them in batches, so that routing never
// waits for the database and a burst costs one transaction, not one per
// message.
type writer struct {
	store Store
	log   *slog.Logger
	batch int
	delay time.Duration

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	in     chan item

	dropped atomic.Uint64 // entries refused because the queue was full
	lost    atomic.Uint64 // entries whose write failed
}

// item is an entry to write, or a barrier: flush closes once everything
// queued before it is written (or given up).
type item struct {
	entry storage.ArchiveEntry
	flush chan struct{}
}

func newWriter(store Store, opts Options, log *slog.Logger) *writer {
	return &writer{store: store, log: log, batch: opts.BatchSize, delay: opts.BatchDelay,
		in: make(chan item, opts.QueueSize)}
}

// add queues an entry without waiting; false when the queue is full or
// the writer is closed.
func (w *writer) add(e storage.ArchiveEntry) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	select {
	case w.in <- item{entry: e}:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// flush waits until everything queued before the call is written, so that
// a query sees the messages routed before it.
func (w *writer) flush(ctx context.Context) error {
	done := make(chan struct{})
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil
	}
	select {
	case w.in <- item{flush: done}:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops taking entries; run writes what is queued and returns.
func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
}

// run writes batches until the writer is closed and drained. A batch is
// what is queued when the first entry arrives, plus what comes within the
// batch delay, up to the batch size; a barrier ends it at once.
func (w *writer) run() {
	var (
		entries []storage.ArchiveEntry
		waiters []chan struct{}
		timer   = time.NewTimer(time.Hour)
	)
	timer.Stop()
	for {
		it, ok := <-w.in
		if !ok {
			return
		}
		entries, waiters = w.take(entries[:0], waiters[:0], it)
		open := true
		if it.flush == nil {
			timer.Reset(w.delay)
		gather:
			for len(entries) < w.batch {
				select {
				case it, ok := <-w.in:
					if !ok {
						open = false
						break gather
					}
					entries, waiters = w.take(entries, waiters, it)
					if it.flush != nil {
						break gather
					}
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
		w.write(entries)
		for _, c := range waiters {
			close(c)
		}
		clear(entries) // let the stanzas go
		if !open {
			return
		}
	}
}

func (w *writer) take(entries []storage.ArchiveEntry, waiters []chan struct{}, it item) ([]storage.ArchiveEntry, []chan struct{}) {
	if it.flush != nil {
		return entries, append(waiters, it.flush)
	}
	return append(entries, it.entry), waiters
}

// write stores a batch, trying again a few times on failure. Entries it
// cannot store are lost (their stanza-id names nothing): logged, counted.
func (w *writer) write(entries []storage.ArchiveEntry) {
	if len(entries) == 0 {
		return
	}
	backoff := writeRetryBackoffStart
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := w.store.AppendArchive(ctx, entries)
		cancel()
		if err == nil {
			return
		}
		if try == writeRetries {
			w.lost.Add(uint64(len(entries)))
			w.log.Error("archive write failed; messages not archived", "entries", len(entries), "err", err)
			return
		}
		w.log.Warn("archive write failed; trying again", "entries", len(entries), "try", try, "err", err)
		time.Sleep(backoff)
		backoff *= 4
	}
}
