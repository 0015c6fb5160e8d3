package routertest

import (
	"context"
	"slices"
	"sync"

	"parley.im/parley/router"
)

// recorder keeps the stanzas handed to a Remote or a Component.
type recorder struct {
	mu  sync.Mutex
	got []*router.Stanza
}

func (r *recorder) add(st *router.Stanza) {
	r.mu.Lock()
	r.got = append(r.got, st)
	r.mu.Unlock()
}

// Got returns the stanzas received so far, oldest first.
func (r *recorder) Got() []*router.Stanza {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Remote is a router.Remote that records what it is given and answers
// Deliver with Err.
type Remote struct {
	recorder
	Err error // set before routing; returned by every Deliver
}

var _ router.Remote = (*Remote)(nil)

// Deliver records st and returns r.Err.
func (r *Remote) Deliver(_ context.Context, st *router.Stanza) error {
	r.add(st)
	return r.Err
}

// Component is a router.Component that records what it is given.
type Component struct{ recorder }

var _ router.Component = (*Component)(nil)

// Deliver records st.
func (c *Component) Deliver(_ context.Context, st *router.Stanza) { c.add(st) }
