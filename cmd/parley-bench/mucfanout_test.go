package main

import (
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	for _, pad := range []int{0, 10, 200} {
		b := formatStamp(at, 42, 7, pad)
		if len(b) < pad {
			t.Errorf("pad %d: body %d bytes", pad, len(b))
		}
		got, sender, seq, ok := parseStamp(b)
		if !ok || !got.Equal(at) || sender != 42 || seq != 7 {
			t.Errorf("parseStamp(%q) = %v %d %d %v", b, got, sender, seq, ok)
		}
	}
	for _, bad := range []string{"", "hello", "pb ", "pb 1 2", "pb x 1 2", "pb 1 -1 2", "pb 0 1 2", "pb 1 1 y", "pb1 1 1 1"} {
		if _, _, _, ok := parseStamp(bad); ok {
			t.Errorf("parseStamp(%q) accepted", bad)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(50) != 0 {
		t.Fatal("empty histogram")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	h.Record(-time.Second) // counted as 0
	check := func(p float64, want time.Duration) {
		t.Helper()
		got := h.Quantile(p)
		if got < want || float64(got) > float64(want)*1.016 {
			t.Errorf("p%v = %v, want %v (+1.6%%)", p, got, want)
		}
	}
	check(50, 500*time.Millisecond)
	check(99, 990*time.Millisecond)
	check(100, 1000*time.Millisecond)
	if h.Quantile(0.01) != 0 {
		t.Errorf("p0.01 = %v, want 0", h.Quantile(0.01))
	}
	if s := h.Summary(); s.N != 1001 || s.Max != 1000 {
		t.Errorf("summary %+v", s)
	}
	// Every value falls in a bucket whose bounds hold it.
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		i := histIndex(v)
		if i < 0 || i >= histBuckets || v > histUpper(i) || (i > 0 && v <= histUpper(i-1)) {
			t.Errorf("value %d in bucket %d [%d, %d]", v, i, histUpper(i-1)+1, histUpper(i))
		}
	}
}

func TestMUCTableDispatch(t *testing.T) {
	if allMUC([]string{"/nonexistent.json"}) {
		t.Error("a missing file is not a muc result")
	}
}
