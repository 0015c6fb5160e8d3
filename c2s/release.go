package c2s

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Giving memory back after a wave of parks. When many sessions park at
// once (after a login storm, a restart with every client reconnecting, a
// benchmark's ramp), the stacks of their readers and their read buffers
// become free heap, along with the garbage of their negotiations
// (TLS handshakes and SCRAM allocate tens of KiB each). The Go runtime
// keeps free heap for reuse and returns it to the OS only slowly, so the
// process would stay at its peak RSS although its live memory is a third
// of it. Once parking has gone quiet after a wave, the free memory is
// collected and returned at once: this costs one garbage collection,
// at most once per releaseInterval, and only after releaseMinParks
// parks, so a steady trickle of sessions parking and waking never pays
// it.
const (
	releaseQuiet     = time.Second // no park for this long: the wave is over
	releaseMinParks  = 256         // parks since the last release that make a wave
	releaseInterval  = time.Minute // at most one release per this
	releaseMinUnused = 8 << 20     // bytes of free heap worth returning
)

// releaser counts parks and returns free memory once a wave of them is
// over.
type releaser struct {
	mu    sync.Mutex
	parks int
	last  time.Time // of the last release
	timer *time.Timer

	// release returns free memory to the OS (debug.FreeOSMemory; tests
	// count calls instead).
	release  func()
	minParks int
}

// parked notes one park and (re)arms the quiet timer.
func (r *releaser) parked() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.parks++
	if r.timer == nil {
		r.timer = time.AfterFunc(releaseQuiet, r.quiet)
	} else {
		r.timer.Reset(releaseQuiet)
	}
}

// quiet runs when no session parked for releaseQuiet.
func (r *releaser) quiet() {
	r.mu.Lock()
	minParks := r.minParks
	if minParks == 0 {
		minParks = releaseMinParks
	}
	if r.parks < minParks || (!r.last.IsZero() && time.Since(r.last) < releaseInterval) {
		r.mu.Unlock()
		return
	}
	r.parks = 0
	r.last = time.Now()
	release := r.release
	r.mu.Unlock()
	if release != nil {
		release()
		return
	}
	if freeHeapBytes() >= releaseMinUnused {
		debug.FreeOSMemory()
	}
}

// stop cancels a pending release (Shutdown).
func (r *releaser) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
}

// freeHeapBytes is the heap memory the runtime holds without using it:
// free spans not yet returned to the OS, and the unused parts of spans.
func freeHeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	var n uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			n += x.Value.Uint64()
		}
	}
	return n
}
