package c2s

import (
	"sync"

	"parley.im/parley/xmppcore"
)

// outQueue is a session's outbound queue: bounded in count, but holding
// memory only for what waits. A buffered channel of the same bound would
// cost every idle session its whole capacity, and the bound must be large
// enough for bursts the server itself causes (probe answers to a user with
// a thousand contacts online).
type outQueue struct {
	mu    sync.Mutex
	items []*xmppcore.Element
	head  int
	max   int
}

func newOutQueue(max int) *outQueue {
	return &outQueue{max: max}
}

// push appends el, or reports false when the queue is full.
func (q *outQueue) push(el *xmppcore.Element) bool {
	q.mu.Lock()
	if len(q.items)-q.head >= q.max {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, el)
	q.mu.Unlock()
	return true
}

// pop takes the oldest waiting element, or nil.
func (q *outQueue) pop() *xmppcore.Element {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return nil
	}
	el := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		// Drained: start over, and let a large backing array go.
		q.head = 0
		if cap(q.items) > 64 {
			q.items = nil
		} else {
			q.items = q.items[:0]
		}
	}
	return el
}

// len returns how many elements wait.
func (q *outQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// pushFront puts els, in order, before what waits, whatever the bound:
// they were taken out of the queue before (stanzas to resend after a
// stream resumption).
func (q *outQueue) pushFront(els []*xmppcore.Element) {
	if len(els) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	rest := q.items[q.head:]
	items := make([]*xmppcore.Element, 0, len(els)+len(rest))
	items = append(append(items, els...), rest...)
	q.items, q.head = items, 0
}
