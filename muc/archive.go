package muc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module/mamquery"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces of the room archive (XEP-0313 on the room's JID) and of
// moderation (XEP-0425).
const (
	NSMAM         = mamquery.NS                   // XEP-0313
	NSMAMExtended = mamquery.NSExtended           // after-id, before-id, ids
	NSForward     = mamquery.NSForward            // XEP-0297
	NSRSM         = mamquery.NSRSM                // XEP-0059
	NSModerate    = "urn:xmpp:message-moderate:1" // XEP-0425
	NSRetract     = "urn:xmpp:message-retract:1"  // XEP-0424
)

// Room archive limits.
const (
	archivePageSize    = 50    // RSM max when the query gives none
	archiveMaxPageSize = 250   // RSM max is lowered to this
	archiveMaxIDs      = 1000  // ids in one query
	archiveQueueLimit  = 10000 // entries waiting to be written; beyond, dropped
	archiveTimeout     = 10 * time.Second
)

// archiver writes room archive entries off the message path: groupchat
// queues them, one goroutine at a time (started when there is work)
// writes them in batches, in order. The deletion of a destroyed room's
// archive goes through the same queue, so that it comes after the
// room's last entries and before those of a new room of the same name.
// Queries and moderation wait for what was queued before them to be
// written.
type archiver struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []archiveOp
	queued  uint64 // operations ever accepted
	written uint64 // of which done (or failed)
	running bool
}

// archiveOp is an entry to append, or (with del) the deletion of the
// archive of the room e.Host, e.Username.
type archiveOp struct {
	e   storage.ArchiveEntry
	del bool
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

// archiveAdd queues e to be written.
func (m *MUC) archiveAdd(e storage.ArchiveEntry) {
	m.archiveQueue(archiveOp{e: e})
}

// archiveDelete queues the deletion of a room's archive. It is never
// dropped for a full queue: deletions are rare, and one lost would leave
// a destroyed room's messages to the next room of its name.
func (m *MUC) archiveDelete(service, room string) {
	m.archiveQueue(archiveOp{e: storage.ArchiveEntry{Host: service, Username: room}, del: true})
}

func (m *MUC) archiveQueue(op archiveOp) {
	a := &m.arch
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if !op.del && len(a.queue) >= archiveQueueLimit {
		m.log.Warn("muc: room archive queue full: message not archived", "room", op.e.Username+"@"+op.e.Host)
		return
	}
	a.queue = append(a.queue, op)
	a.queued++
	if !a.running {
		a.running = true
		go m.archiveRun()
	}
}

// archiveRun works through the queue until it is empty: consecutive
// entries in one append, deletions in their place.
func (m *MUC) archiveRun() {
	a := &m.arch
	ra := m.roomArchive()
	a.mu.Lock()
	for len(a.queue) > 0 {
		batch := a.queue
		a.queue = nil
		a.mu.Unlock()
		for len(batch) > 0 {
			n := 0
			for n < len(batch) && !batch[n].del {
				n++
			}
			ctx, cancel := context.WithTimeout(context.Background(), archiveTimeout)
			if n > 0 {
				es := make([]storage.ArchiveEntry, n)
				for i := range es {
					es[i] = batch[i].e
				}
				if err := ra.AppendRoomArchive(ctx, es); err != nil {
					m.log.Error("muc: room archive write failed", "entries", n, "err", err)
				}
			} else {
				e := batch[0].e
				n = 1
				if err := ra.DeleteRoomArchive(ctx, e.Host, e.Username); err != nil {
					m.log.Error("muc: deleting a destroyed room's archive failed", "room", e.Username+"@"+e.Host, "err", err)
				}
			}
			cancel()
			batch = batch[n:]
			a.mu.Lock()
			a.written += uint64(n)
			a.cond.Broadcast()
			a.mu.Unlock()
		}
		a.mu.Lock()
	}
	a.running = false
	a.mu.Unlock()
}

// archiveWait waits for the operations queued so far to be done.
func (m *MUC) archiveWait() {
	a := &m.arch
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	for target := a.queued; a.written < target; {
		a.cond.Wait()
	}
}

// PurgeArchives deletes the room archive entries older than
// Options.ArchiveRetention, on every service (nothing without a
// retention). The service runs it every Options.ArchivePurgeInterval.
func (m *MUC) PurgeArchives(ctx context.Context) (int64, error) {
	ra := m.roomArchive()
	if ra == nil || m.opts.ArchiveRetention <= 0 {
		return 0, nil
	}
	before := m.now().Add(-m.opts.ArchiveRetention)
	var total int64
	for _, d := range m.Domains() {
		n, err := ra.PurgeRoomArchive(ctx, d, before)
		total += n
		if err != nil {
			m.log.Error("muc: room archive retention purge failed", "service", d, "before", before, "deleted", total, "err", err)
			return total, err
		}
	}
	if total > 0 {
		m.log.Info("muc: room archive retention purge", "before", before, "deleted", total)
	}
	return total, nil
}

// purger runs PurgeArchives at start and then every
// Options.ArchivePurgeInterval, until the module stops.
func (m *MUC) purger() {
	t := time.NewTicker(m.opts.ArchivePurgeInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-m.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		m.PurgeArchives(ctx)
		cancel()
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
	}
}

// archiving reports whether the room archives its messages.
func (r *room) archiving() bool { return r.cfg.Archive && r.svc.m.roomArchive() != nil }

// archiveFeatures are the disco#info features of the room archive and
// moderation.
func (r *room) archiveFeatures() []string {
	if r.archiving() {
		return []string{NSMAM, NSMAMExtended, NSModerate}
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
	// XEP-0313 §7 (MUC message spoofing): a client's muc#user <x/> is not
	// kept; results carry the room's own.
	// A new element, not a clone: a clone would share el's serialized
	// content once fan-out sets it.
	stored := &xmppcore.Element{Space: el.Space, Local: el.Local, Attrs: slices.Clone(el.Attrs),
		Nodes: slices.DeleteFunc(slices.Clone(el.Nodes), func(n xmppcore.Node) bool {
			return n.Elem != nil && n.Elem.Is(NSUser, "x")
		})}
	r.hasArchive = true
	r.svc.m.archiveAdd(storage.ArchiveEntry{Host: r.svc.domain, Username: r.name, ID: id,
		With: o.bareStr, WithResource: o.nick, Direction: storage.ArchiveIncoming,
		Stamp: r.svc.m.now(), Stanza: stored.AppendXML(nil, xmppcore.NSClient)})
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

// archiveLimits bound a query of a room archive.
var archiveLimits = mamquery.Limits{DefaultPageSize: archivePageSize, MaxPageSize: archiveMaxPageSize, MaxIDs: archiveMaxIDs}

// seesRealJIDs reports whether who may learn occupants' real JIDs: anyone
// in a non-anonymous room, else admins, owners and moderators (§5.1.1).
func (r *room) seesRealJIDs(who jid.JID) bool {
	if r.cfg.WhoisAnyone || r.affOf(who) >= affAdmin {
		return true
	}
	a := r.actorOf(who)
	return a != nil && a.role == roleModerator
}

// archiveWith applies a query's 'with' to the room archive (XEP-0313
// §4.1.1: an item matches if its sender matches). An occupant JID of the
// room matches the messages sent under that nickname, the room's own JID
// all of them; any other JID is a sender's real JID, matched by its bare
// JID (real JIDs are archived bare), and only for those who may see real
// JIDs: to others it is forbidden, since it would tell who wrote what in a
// semi-anonymous room.
func (r *room) archiveWith(req *mamquery.Request, from jid.JID) error {
	if !req.HasWith() {
		return nil
	}
	if req.With.Bare().Equal(r.jid) {
		req.Query.WithResource = req.With.Resourcepart() // "" for the room: everything
		return nil
	}
	if !r.seesRealJIDs(from) {
		return xmppcore.NewError(stanza.Forbidden, "only those who may see real JIDs may filter by them")
	}
	req.Query.With = req.With.Bare().String()
	return nil
}

// archiveQuery answers a XEP-0313 query of the room's archive: the
// results to the requester, then the IQ result with <fin/>. A get is a
// request for the query form (§4.1.5).
func (r *room) archiveQuery(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	if !r.archiving() {
		r.errorTo(st, errUnavailable)
		return
	}
	if !r.mayReadArchive(st) {
		r.errorTo(st, errForbidden)
		return
	}
	if st.Type() == "get" {
		r.resultTo(st, mamquery.Form())
		return
	}
	req, err := mamquery.Parse(q, archiveLimits)
	if err == nil {
		err = r.archiveWith(req, st.From)
	}
	if err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	r.svc.m.archiveWait()
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), archiveTimeout)
	defer cancel()
	page, err := r.svc.m.roomArchive().QueryRoomArchive(qctx, r.svc.domain, r.name, req.Query)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		r.errorTo(st, errNotFound)
		return
	case err != nil:
		r.svc.m.log.Error("muc: room archive query failed", "room", r.jidStr, "err", err)
		r.errorTo(st, errInternal)
		return
	}
	realJIDs := r.seesRealJIDs(st.From)
	to := recipient{st.From, st.From.String()}
	for _, e := range req.Entries(page) {
		msg, err := xmppcore.Parse(e.Stanza)
		if err != nil {
			r.svc.m.log.Error("muc: archived message does not parse", "room", r.jidStr, "id", e.ID, "err", err)
			msg = nil
		} else if realJIDs && e.With != "" {
			// §5.1.2 of XEP-0313 (MUC archives): the real JID, to those
			// who may see it.
			msg.Append(xmppcore.New(NSUser, "x").Append(xmppcore.New(NSUser, "item", "jid", e.With)))
		}
		el := xmppcore.New("", xmppcore.Message, "from", r.jidStr, "id", newID()).
			Append(mamquery.Result(req.QueryID, e, msg))
		r.send(el, r.jid, to)
	}
	r.resultTo(st, mamquery.Fin(page))
}
