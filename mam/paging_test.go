package mam

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestPagingThousands: 3,000 messages routed into alice's archive (through
// the router and SQLite), read page by page with max=250 (the default
// MaxPageSize) forwards, backwards and flipped, over the whole archive,
// after-id/before-id ranges and start/end windows: every entry exactly
// once, in order, with the right first/index/last, count and complete on
// every page.
func TestPagingThousands(t *testing.T) {
	if testing.Short() {
		t.Skip("routes 3,000 messages")
	}
	const n, size = 3000, 250
	// Each message goes to two archives (alice's and bob's): the queue
	// holds them all, so that none is dropped however slow the writer
	// (under -race).
	e := setup(t, Options{QueueSize: 4 * n})
	id := entryIDs(converse(t, e, n))
	if len(id) != n {
		t.Fatalf("alice's archive holds %d entries, want %d", len(id), n)
	}
	// stamp is when message i was routed (converse: one second apart,
	// the first a second after t0).
	stamp := func(i int) string { return t0.Add(time.Duration(i+1) * time.Second).Format(time.RFC3339) }
	span := func(from, to int) []int {
		var out []int
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}

	for _, tc := range []struct {
		name string
		form string
		want []int // archive positions of the result set, in order
	}{
		{"whole archive", "", span(0, n)},
		{"after-id and before-id", form("after-id", id[999], "before-id", id[2000]), span(1000, 2000)},
		{"after-id only", form("after-id", id[1234]), span(1235, n)},
		{"before-id only", form("before-id", id[1766]), span(0, 1766)},
		{"start and end", form("start", stamp(100), "end", stamp(2899)), span(100, 2900)},
		{"start only", form("start", stamp(2001)), span(2001, n)},
		{"end only", form("end", stamp(776)), span(0, 777)},
		{"with bob", form("with", "bob@example.org"), span(0, n)},
		{"with bob's resource", form("with", "bob@example.org/home"), span(0, n)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range []struct {
				name           string
				backward, flip bool
			}{{"forward", false, false}, {"backward", true, false}, {"forward flipped", false, true}, {"backward flipped", true, true}} {
				t.Run(dir.name, func(t *testing.T) {
					got := walk(t, e, tc.form, id, tc.want, size, dir.backward, dir.flip)
					want := make([]string, len(tc.want))
					for i, p := range tc.want {
						want[i] = id[p]
					}
					if !slices.Equal(got, want) {
						t.Errorf("walked %d ids, want %d (each once, in archive order)", len(got), len(want))
					}
				})
			}
		})
	}

	t.Run("from the middle", func(t *testing.T) {
		q := e.queryOK(t, e.laptop, "", rsm(fmt.Sprintf(`<max>%d</max><after>%s</after>`, size, id[1499])))
		assertPage(t, "after the middle", q, bodies(1500, 1750), id[1500], 1500, id[1749], n, "false")
		q = e.queryOK(t, e.laptop, "", rsm(fmt.Sprintf(`<max>%d</max><before>%s</before>`, size, id[1500])))
		assertPage(t, "before the middle", q, bodies(1250, 1500), id[1250], 1250, id[1499], n, "false")
		q = e.queryOK(t, e.laptop, "", rsm(fmt.Sprintf(`<max>%d</max><before>%s</before>`, size, id[100])))
		assertPage(t, "before, near the start", q, bodies(0, 100), id[0], 0, id[99], n, "true")
		q = e.queryOK(t, e.laptop, "", rsm(fmt.Sprintf(`<max>%d</max><after>%s</after>`, size, id[2900])))
		assertPage(t, "after, near the end", q, bodies(2901, n), id[2901], 2901, id[n-1], n, "true")
		// A larger max is lowered to 250.
		q = e.queryOK(t, e.laptop, "", rsm(`<max>5000</max><after>`+id[1499]+`</after>`))
		assertPage(t, "clamped", q, bodies(1500, 1750), id[1500], 1500, id[1749], n, "false")
		// Within a window, after an entry outside it (before its start).
		q = e.queryOK(t, e.laptop, "", form("start", stamp(1000), "end", stamp(1999))+
			rsm(fmt.Sprintf(`<max>%d</max><after>%s</after>`, size, id[10])))
		assertPage(t, "after an id before the window", q, bodies(1000, 1250), id[1000], 0, id[1249], 1000, "false")
		// By index, deep.
		q = e.queryOK(t, e.laptop, "", rsm(fmt.Sprintf(`<max>%d</max><index>2875</index>`, size)))
		assertPage(t, "index", q, bodies(2875, n), id[2875], 2875, id[n-1], n, "true")
	})
}

// walk pages through the result set of form, size entries at a time, from
// the first page forwards (RSM after) or from the last backwards (RSM
// before), with <flip-page/> or not, checking each page, and returns the
// IDs seen in archive order.
func walk(t *testing.T, e *env, form string, id []string, want []int, size int, backward, flip bool) []string {
	t.Helper()
	n := len(want)
	pages := (n + size - 1) / size
	var seen [][]string
	cursor := ""
	for k := range pages + 1 {
		// The page's range of the result set.
		lo, hi := k*size, min((k+1)*size, n)
		if backward {
			lo, hi = max(n-(k+1)*size, 0), n-k*size
		}
		set := fmt.Sprintf(`<max>%d</max>`, size)
		switch {
		case backward && cursor == "":
			set += `<before/>`
		case backward:
			set += `<before>` + cursor + `</before>`
		case cursor != "":
			set += `<after>` + cursor + `</after>`
		}
		payload := form + rsm(set)
		if flip {
			payload += `<flip-page/>`
		}
		q := e.queryOK(t, e.laptop, "", payload)
		what := fmt.Sprintf("page %d (%d-%d of %d)", k, lo, hi, n)
		if k == pages {
			// One more past the end: empty and complete.
			assertPage(t, what+" past the end", q, nil, "", 0, "", n, "true")
			break
		}
		var wantBodies []string
		for _, p := range want[lo:hi] {
			wantBodies = append(wantBodies, strconv.Itoa(p))
		}
		if flip {
			slices.Reverse(wantBodies)
		}
		complete := "false"
		if (!backward && hi == n) || (backward && lo == 0) {
			complete = "true"
		}
		assertPage(t, what, q, wantBodies, id[want[lo]], lo, id[want[hi-1]], n, complete)
		ids := q.ids()
		if flip {
			slices.Reverse(ids)
		}
		seen = append(seen, ids)
		if t.Failed() {
			break
		}
		first, _, last, _ := q.rsm(t)
		cursor = last
		if backward {
			cursor = first
		}
	}
	if backward {
		slices.Reverse(seen)
	}
	return slices.Concat(seen...)
}
