package c2s

import (
	"sync/atomic"
	"testing"
	"time"
)

// A wave of parks is followed by one release once parking goes quiet; a
// second wave within releaseInterval, or too few parks, gets none.
func TestReleaseAfterWaveOfParks(t *testing.T) {
	var calls atomic.Int32
	r := &releaser{minParks: 3, release: func() { calls.Add(1) }}
	defer r.stop()
	r.parked()
	r.parked()
	time.Sleep(releaseQuiet + 300*time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d releases after 2 parks, want none below minParks", n)
	}
	r.parked() // the third: a wave
	time.Sleep(releaseQuiet / 2)
	if n := calls.Load(); n != 0 {
		t.Fatalf("released while parks were still coming")
	}
	time.Sleep(releaseQuiet)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d releases after a quiet wave, want 1", n)
	}
	for range 5 {
		r.parked()
	}
	time.Sleep(releaseQuiet + 300*time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d releases, want no second one within releaseInterval", n)
	}
}
