package muc

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces of the room archive (XEP-0313 on the room's JID) and of
// moderation (XEP-0425).
const (
	NSMAM      = "urn:xmpp:mam:2"                 // XEP-0313
	NSForward  = "urn:xmpp:forward:0"             // XEP-0297
	NSRSM      = "http://jabber.org/protocol/rsm" // XEP-0059
	NSModerate = "urn:xmpp:message-moderate:1"    // XEP-0425
	NSRetract  = "urn:xmpp:message-retract:1"     // XEP-0424
)

// Room archive limits.
const (
	archivePageSize    = 50    // RSM max when the query gives none
	archiveMaxPageSize = 250   // RSM max is lowered to this
	archiveQueueLimit  = 10000 // entries waiting to be written; beyond, dropped
	archiveTimeout     = 10 * time.Second
)

// archiver writes room archive entries off the message path: groupchat
// queues them, one goroutine at a time (started when there is work)
// writes them in batches, in order. Queries and moderation wait for what
// was queued before them to be written.
type archiver struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []storage.ArchiveEntry
	queued  uint64 // entries ever accepted
	written uint64 // of which written (or failed)
	running bool
}

// roomArchive is the store's room archive area, nil if it has none.
func (m *MUC) roomArchive() storage.RoomArchive {
	ra, _ := m.store.(storage.RoomArchive)
	return ra
}

func (a *archiver) init() {
	if a.cond == nil {
		a.cond = sync.NewCond(&a.mu)
	}
}

// add queues e to be written.
func (m *MUC) archiveAdd(e storage.ArchiveEntry) {
	a := &m.arch
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if len(a.queue) >= archiveQueueLimit {
		m.log.Warn("muc: room archive queue full: message not archived", "room", e.Username+"@"+e.Host)
		return
	}
	a.queue = append(a.queue, e)
	a.queued++
	if !a.running {
		a.running = true
		go m.archiveRun()
	}
}

// archiveRun writes the queue until it is empty.
func (m *MUC) archiveRun() {
	a := &m.arch
	ra := m.roomArchive()
	a.mu.Lock()
	for len(a.queue) > 0 {
		batch := a.queue
		a.queue = nil
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), archiveTimeout)
		if err := ra.AppendRoomArchive(ctx, batch); err != nil {
			m.log.Error("muc: room archive write failed", "entries", len(batch), "err", err)
		}
		cancel()
		a.mu.Lock()
		a.written += uint64(len(batch))
		a.cond.Broadcast()
	}
	a.running = false
	a.mu.Unlock()
}

// archiveWait waits for the entries queued so far to be written.
func (m *MUC) archiveWait() {
	a := &m.arch
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	for target := a.queued; a.written < target; {
		a.cond.Wait()
	}
}

// archiving reports whether the room archives its messages.
func (r *room) archiving() bool { return r.cfg.Archive && r.svc.m.roomArchive() != nil }

// archiveFeatures are the disco#info features of the room archive and
// moderation.
func (r *room) archiveFeatures() []string {
	if r.archiving() {
		return []string{NSMAM, NSModerate}
	}
	return []string{NSModerate}
}

// roomStanzaID returns the id of the room's stanza-id in el, or "".
func (r *room) roomStanzaID(el *xmppcore.Element) string {
	for c := range el.Children() {
		if c.Is(NSSID, "stanza-id") && c.Attr("by") == r.jidStr {
			return c.Attr("id")
		}
	}
	return ""
}

// archive queues the reflected groupchat message el of o, if the room
// archives and el has a body; nothing touches storage here.
func (r *room) archive(el *xmppcore.Element, o *occupant) {
	if !r.archiving() || el.Child("", "body") == nil {
		return
	}
	id := r.roomStanzaID(el)
	if id == "" {
		return
	}
	r.svc.m.archiveAdd(storage.ArchiveEntry{Host: r.svc.domain, Username: r.name, ID: id,
		With: o.bareStr, WithResource: o.nick, Direction: storage.ArchiveIncoming,
		Stamp: r.svc.m.now(), Stanza: el.AppendXML(nil, xmppcore.NSClient)})
}

// mayReadArchive reports whether who may query the archive: occupants
// always, else members (and above) always, and anyone else only in a
// public, open room without a password; outcasts never.
func (r *room) mayReadArchive(st *router.Stanza) bool {
	if r.bySession[st.From.String()] != nil {
		return true
	}
	a := r.affOf(st.From)
	switch {
	case a == affOutcast:
		return false
	case a >= affMember:
		return true
	}
	return r.cfg.Public && !r.cfg.MembersOnly && r.cfg.Password == ""
}

// archiveQuery answers a XEP-0313 query of the room's archive: the
// results to the requester, then the IQ result with <fin/>.
func (r *room) archiveQuery(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	if !r.archiving() {
		r.errorTo(st, errUnavailable)
		return
	}
	if !r.mayReadArchive(st) {
		r.errorTo(st, errForbidden)
		return
	}
	req, err := parseArchiveQuery(q)
	if err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	r.svc.m.archiveWait()
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), archiveTimeout)
	defer cancel()
	page, err := r.svc.m.roomArchive().QueryRoomArchive(qctx, r.svc.domain, r.name, req.q)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		r.errorTo(st, errNotFound)
		return
	case err != nil:
		r.svc.m.log.Error("muc: room archive query failed", "room", r.jidStr, "err", err)
		r.errorTo(st, errInternal)
		return
	}
	entries := page.Entries
	if req.flip {
		entries = slices.Clone(entries)
		slices.Reverse(entries)
	}
	to := recipient{st.From, st.From.String()}
	for _, e := range entries {
		fwd := xmppcore.New(NSForward, "forwarded").Append(
			xmppcore.New(NSDelay, "delay", "stamp", e.Stamp.UTC().Format("2006-01-02T15:04:05.000Z")))
		if msg, err := xmppcore.Parse(e.Stanza); err == nil {
			fwd.Append(inClientNS(msg))
		} else {
			r.svc.m.log.Error("muc: archived message does not parse", "room", r.jidStr, "id", e.ID, "err", err)
		}
		res := xmppcore.New(NSMAM, "result", "id", e.ID)
		if req.queryID != "" {
			res.SetAttr("queryid", req.queryID)
		}
		el := xmppcore.New("", xmppcore.Message, "from", r.jidStr, "id", newID()).Append(res.Append(fwd))
		r.send(el, r.jid, to)
	}
	fin := xmppcore.New(NSMAM, "fin", "complete", strconv.FormatBool(page.Complete))
	set := xmppcore.New(NSRSM, "set")
	if n := len(page.Entries); n > 0 {
		set.Append(
			xmppcore.New(NSRSM, "first", "index", strconv.Itoa(page.Index)).AppendText(page.Entries[0].ID),
			xmppcore.New(NSRSM, "last").AppendText(page.Entries[n-1].ID))
	}
	set.Append(xmppcore.New(NSRSM, "count").AppendText(strconv.Itoa(page.Count)))
	r.resultTo(st, fin.Append(set))
}

// inClientNS puts el and its descendants of the content namespace in
// jabber:client explicitly, so that the forwarded stanza stays
// jabber:client whatever stream it is written to.
func inClientNS(el *xmppcore.Element) *xmppcore.Element {
	if el.Space == "" {
		el.Space = xmppcore.NSClient
	}
	for c := range el.Children() {
		inClientNS(c)
	}
	return el
}
