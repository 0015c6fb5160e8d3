package muc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"runtime"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// role is an occupant's role (XEP-0045 §5.1), in increasing privilege.
type role int

const (
	roleNone role = iota
	roleVisitor
	roleParticipant
	roleModerator
)

var roleNames = [...]string{"none", "visitor", "participant", "moderator"}

func (r role) String() string { return roleNames[r] }

func parseRole(s string) (role, bool) {
	for i, n := range roleNames {
		if n == s {
			return role(i), true
		}
	}
	return roleNone, false
}

// affiliation is a user's long-lived affiliation (XEP-0045 §5.2), in
// increasing privilege.
type affiliation int

const (
	affOutcast affiliation = iota
	affNone
	affMember
	affAdmin
	affOwner
)

var affNames = [...]string{storage.AffOutcast, storage.AffNone, storage.AffMember, storage.AffAdmin, storage.AffOwner}

func (a affiliation) String() string { return affNames[a] }

func parseAffiliation(s string) (affiliation, bool) {
	for i, n := range affNames {
		if n == s {
			return affiliation(i), true
		}
	}
	return affNone, false
}

// affEntry is a stored affiliation of a bare JID or domain.
type affEntry struct {
	aff    affiliation
	nick   string // registered nickname
	reason string
}

// roomState is what a room is made from: the defaults, or storage.
type roomState struct {
	cfg                RoomConfig
	subject, subjectBy string
	subjectAt, created time.Time
	affs               map[string]affEntry
}

func roomFromStorage(r storage.MUCRoom) roomState {
	st := roomState{cfg: RoomConfig{MUCConfig: r.Config, Persistent: true}, subject: r.Subject,
		subjectBy: r.SubjectBy, subjectAt: r.SubjectAt, created: r.Created, affs: make(map[string]affEntry)}
	for _, a := range r.Affiliations {
		if aff, ok := parseAffiliation(a.Affiliation); ok && aff != affNone {
			st.affs[a.JID] = affEntry{aff: aff, nick: a.Nick, reason: a.Reason}
		}
	}
	return st
}

// room is one live room. Everything in it is guarded by mu, which is never
// held while routing: handlers queue what they send (outq, in the order the
// room's state changed) and flush delivers it after unlocking.
type room struct {
	svc    *service
	name   string
	jid    jid.JID
	jidStr string

	mu      sync.Mutex
	closed  bool // destroyed or evicted: look the room up again
	locked  bool // created, awaiting its initial configuration (§10.1)
	inStore bool // stored: persistent and configured
	cfg     RoomConfig
	created time.Time

	subject, subjectBy string
	subjectAt          time.Time

	affs  map[string]affEntry // by bare JID or domain
	nicks map[string]string   // registered nickname -> bare JID

	occupants map[string]*occupant   // by nickname
	bySession map[string]*occSession // by real full JID
	// byRole holds the occupants of each role, so that a newcomer's
	// roster walks only the roles whose presence is broadcast: in a large
	// room a join costs the moderators, not everyone.
	byRole [roleModerator + 1]map[*occupant]struct{}
	// recips is every session (each occSession knows its index), in no
	// particular order. Fan-outs take it as a snapshot (everyone) and
	// keep the slice while delivering, so recipsShared says that one may
	// be out: a removal then copies it first, once; otherwise it swaps
	// the last entry into the hole in place. Appending never touches what
	// a snapshot sees. A leave is O(1) amortized: at most one copy per
	// snapshot, and a snapshot is taken for a fan-out to everyone, which
	// is O(n) already.
	recips       []recipient
	recipsShared bool
	history      history
	idleSince    time.Time

	pending pendingIQs  // IQs relayed between occupants
	regs    regRequests // registrations awaiting approval (register.go)
	avatar  avatarCache

	outq     []delivery
	draining bool

	// hasArchive: the room may have entries in the room archive (it
	// archived some, or it was loaded from storage); dropArchive queues
	// their deletion once.
	hasArchive, archiveDropped bool
}

// recipient is a session a fan-out goes to.
type recipient struct {
	to  jid.JID
	str string
}

// delivery is a stanza to route: el as it is to one recipient, or el as a
// template (without 'to') cloned for each of many.
type delivery struct {
	el   *xmppcore.Element
	from jid.JID
	one  recipient
	many []recipient
}

func (s *service) newRoom(name string, st roomState) *room {
	j, _ := jid.New(name, s.domain, "")
	r := &room{svc: s, name: name, jid: j, jidStr: j.String(), cfg: st.cfg, created: st.created,
		subject: st.subject, subjectBy: st.subjectBy, subjectAt: st.subjectAt,
		affs: st.affs, nicks: make(map[string]string),
		occupants: make(map[string]*occupant), bySession: make(map[string]*occSession),
		idleSince: s.m.now()}
	if r.affs == nil {
		r.affs = make(map[string]affEntry)
	}
	for j, a := range r.affs {
		if a.nick != "" {
			r.nicks[a.nick] = j
		}
	}
	r.history.resize(r.cfg.HistoryLength)
	return r
}

// send queues el for one recipient; el must not be shared. Its 'from' is
// from, unless it says otherwise already.
func (r *room) send(el *xmppcore.Element, from jid.JID, to recipient) {
	if _, ok := el.LookupAttr("", "from"); !ok {
		el.SetAttr("from", from.String())
	}
	el.SetAttr("to", to.str)
	r.outq = append(r.outq, delivery{el: el, from: from, one: to})
}

// fanout queues the template el (with 'from' set, no 'to') for recipients,
// which the caller must not change afterwards.
func (r *room) fanout(el *xmppcore.Element, from jid.JID, to []recipient) {
	if len(to) > 0 {
		if len(to) > 1 {
			// Every copy differs only in 'to': serialize the content once.
			el.ShareContent()
		}
		r.outq = append(r.outq, delivery{el: el, from: from, many: to})
	}
}

// flush delivers what the room queued, in order, without holding the
// lock. One goroutine at a time drains a room's queue: the others leave
// what they queued to it and return, so that stanzas go out in the order
// of the state changes, and a handler re-entered while routing (an error
// bounced back synchronously) never waits for itself. In a room of at
// least asyncDrainMin sessions the drain runs on a goroutine of its own,
// so that the session whose stanza caused a fan-out (its reader calls
// flush) goes on reading instead of delivering to thousands, and keeps
// delivering everyone's messages as long as the room is busy.
func (r *room) flush(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	if r.draining || len(r.outq) == 0 {
		r.mu.Unlock()
		return
	}
	r.draining = true
	if m := r.svc.m; len(r.recips) >= asyncDrainMin && m.drainAsync() {
		r.mu.Unlock()
		go func() {
			defer m.drains.Done()
			r.mu.Lock()
			r.drain(ctx)
		}()
		return
	}
	r.drain(ctx)
}

// drain routes the queue until it is empty; r.mu is held on entry and
// released on return, r.draining set by the caller.
func (r *room) drain(ctx context.Context) {
	rt := r.svc.m.rt
	for len(r.outq) > 0 {
		batch := r.outq
		r.outq = nil
		r.mu.Unlock()
		for i := range batch {
			d := &batch[i]
			if d.many == nil {
				rt.Route(ctx, &router.Stanza{El: d.el, From: d.from, To: d.one.to})
				continue
			}
			fanoutTo(ctx, rt, d)
			batch[i] = delivery{}
		}
		r.mu.Lock()
	}
	r.draining = false
	r.mu.Unlock()
}

// Fan-out of large rooms.
const (
	// asyncDrainMin is the number of sessions from which a room drains
	// its queue on a goroutine of its own.
	asyncDrainMin = 256
	// parallelMin is the fewest recipients a fan-out worker gets: a
	// fan-out to fewer than twice as many runs on one goroutine.
	parallelMin = 512
	// maxBacklog is how many stanzas or fan-outs may wait for the room's
	// drain before groupchat messages are refused (resource-constraint,
	// wait): what bounds a room's memory when its occupants send faster
	// than the server delivers.
	maxBacklog = 1000
)

// fanoutWorkers is how many goroutines may share one fan-out: the
// processors Go runs on.
var fanoutWorkers = func() int { return runtime.GOMAXPROCS(0) }

// cloneChunk is how many copies of a fan-out are allocated together: few
// enough that a slow session holding one copy in its queue keeps little
// else alive (about 5 KB), enough to save most allocations.
const cloneChunk = 16

// fanoutTo routes a copy of d's template to each of its recipients: the
// template's attributes and 'to', its content shared. A large fan-out is
// split between up to fanoutWorkers goroutines, and fanoutTo returns when
// all of them are done: every recipient has this stanza before the
// room's next one goes out, so each still gets them in the room's order.
func fanoutTo(ctx context.Context, rt *router.Router, d *delivery) {
	n := len(d.many)
	workers := min(fanoutWorkers(), n/parallelMin)
	if workers <= 1 {
		routeCopies(ctx, rt, d, d.many)
		return
	}
	per := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for i := per; i < n; i += per {
		part := d.many[i:min(i+per, n)]
		wg.Go(func() { routeCopies(ctx, rt, d, part) })
	}
	routeCopies(ctx, rt, d, d.many[:per])
	wg.Wait()
}

// routeCopies routes a copy of d's template to each of to.
func routeCopies(ctx context.Context, rt *router.Router, d *delivery, to []recipient) {
	nattr := len(d.el.Attrs) + 1
	var (
		els   []xmppcore.Element
		attrs []xmppcore.Attr
		sts   []router.Stanza
	)
	for i, rc := range to {
		if i%cloneChunk == 0 {
			n := min(cloneChunk, len(to)-i)
			els, attrs, sts = make([]xmppcore.Element, n), make([]xmppcore.Attr, n*nattr), make([]router.Stanza, n)
		}
		k := i % cloneChunk
		el := &els[k]
		el.Space, el.Local, el.Nodes = d.el.Space, d.el.Local, d.el.Nodes[:len(d.el.Nodes):len(d.el.Nodes)]
		el.Attrs = attrs[k*nattr : k*nattr : (k+1)*nattr]
		el.Attrs = append(el.Attrs, d.el.Attrs...)
		el.Attrs = append(el.Attrs, xmppcore.Attr{Local: "to", Value: rc.str})
		el.ShareContentOf(d.el)
		st := &sts[k]
		st.El, st.From, st.To = el, d.from, rc.to
		rt.Route(ctx, st)
	}
}

// handle processes one stanza for the room; r.mu is held.
func (r *room) handle(ctx context.Context, st *router.Stanza, created bool) {
	nick := st.To.Resourcepart()
	switch st.Kind() {
	case xmppcore.Presence:
		if nick == "" {
			r.presenceToRoom(st)
			return
		}
		r.presence(ctx, st, created)
	case xmppcore.Message:
		if nick == "" {
			r.messageToRoom(ctx, st)
			return
		}
		r.privateMessage(st)
	case xmppcore.IQ:
		if nick == "" {
			r.iqToRoom(ctx, st)
			return
		}
		r.iqToOccupant(st)
	}
}

// errorTo queues the error answer to st.
func (r *room) errorTo(st *router.Stanza, se stanza.Error, before ...*xmppcore.Element) {
	se.By = r.jid
	if el := errorReply(st, se, before...); el != nil {
		r.outq = append(r.outq, delivery{el: el, from: st.To, one: recipient{st.From, st.From.String()}})
	}
}

// resultTo queues the result of an IQ request.
func (r *room) resultTo(st *router.Stanza, payload *xmppcore.Element) {
	el := iqResult(st, payload)
	r.outq = append(r.outq, delivery{el: el, from: st.To, one: recipient{st.From, st.From.String()}})
}

func iqResult(st *router.Stanza, payload *xmppcore.Element) *xmppcore.Element {
	el := xmppcore.New("", xmppcore.IQ, "type", "result")
	if id := st.El.Attr("id"); id != "" {
		el.SetAttr("id", id)
	}
	el.SetAttr("from", st.To.String())
	el.SetAttr("to", st.From.String())
	if payload != nil {
		el.Append(payload)
	}
	return el
}

// asStanzaError returns err as the stanza error to answer with: itself if
// it is one, else internal-server-error after logging it.
func asStanzaError(m *MUC, err error) stanza.Error {
	var se stanza.Error
	if errors.As(err, &se) {
		return se
	}
	m.log.Error("muc: request failed", "err", err)
	return errInternal
}

// occupantID is the XEP-0421 id of a user in the room: keyed by the
// service secret, stable for the room and the user's bare JID, and
// unguessable without the secret.
func (r *room) occupantID(bare string) string {
	mac := hmac.New(sha256.New, r.svc.m.secret)
	mac.Write([]byte(r.jidStr))
	mac.Write([]byte{0})
	mac.Write([]byte(bare))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// newID is an unpredictable id for stanzas and XEP-0359 stanza ids.
func newID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// affOf returns the affiliation of a user: a service admin is an owner;
// otherwise the user's own entry, else their domain's, else none
// (XEP-0045 §9.2: user@domain, then domain).
func (r *room) affOf(user jid.JID) affiliation {
	if r.svc.isAdmin(user) {
		return affOwner
	}
	if a, ok := r.affs[user.Bare().String()]; ok {
		return a.aff
	}
	if a, ok := r.affs[user.Domainpart()]; ok {
		return a.aff
	}
	return affNone
}

// defaultRole is the role an affiliation enters the room with (§5.1.2).
func (r *room) defaultRole(a affiliation) role {
	switch {
	case a >= affAdmin:
		return roleModerator
	case a == affMember || !r.cfg.Moderated:
		return roleParticipant
	}
	return roleVisitor
}

// persistent storage

// storeCtx bounds a storage call made for the room: it outlives the
// request's cancellation, so the room and storage stay in step.
func storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

func (r *room) stored() storage.MUCRoom {
	return storage.MUCRoom{Service: r.svc.domain, Name: r.name, Config: r.cfg.MUCConfig,
		Subject: r.subject, SubjectBy: r.subjectBy, SubjectAt: r.subjectAt, Created: r.created}
}

// storeNew writes the room and its affiliations, when it becomes
// persistent.
func (r *room) storeNew(ctx context.Context) error {
	ctx, cancel := storeCtx(ctx)
	defer cancel()
	sr := r.stored()
	for j, a := range r.affs {
		sr.Affiliations = append(sr.Affiliations, storage.MUCAffiliation{JID: j, Affiliation: a.aff.String(), Nick: a.nick, Reason: a.reason})
	}
	if err := r.svc.m.store.CreateMUCRoom(ctx, sr); err != nil {
		return err
	}
	r.inStore = true
	return nil
}

// storeUpdate writes the configuration and subject of a stored room.
func (r *room) storeUpdate(ctx context.Context) error {
	if !r.inStore {
		return nil
	}
	ctx, cancel := storeCtx(ctx)
	defer cancel()
	return r.svc.m.store.UpdateMUCRoom(ctx, r.stored())
}

func (r *room) storeDelete(ctx context.Context) error {
	ctx, cancel := storeCtx(ctx)
	defer cancel()
	err := r.svc.m.store.DeleteMUCRoom(ctx, r.svc.domain, r.name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	r.inStore = false
	return nil
}

func (r *room) storeAffiliations(ctx context.Context, changes []storage.MUCAffiliation) error {
	if !r.inStore || len(changes) == 0 {
		return nil
	}
	ctx, cancel := storeCtx(ctx)
	defer cancel()
	return r.svc.m.store.SetMUCAffiliations(ctx, r.svc.domain, r.name, changes)
}

// setAffiliation changes the in-memory affiliation of a JID (after
// storage accepted it).
func (r *room) setAffiliation(j string, e affEntry) {
	if old, ok := r.affs[j]; ok && old.nick != "" && r.nicks[old.nick] == j {
		delete(r.nicks, old.nick)
	}
	if e.aff == affNone {
		delete(r.affs, j)
		return
	}
	r.affs[j] = e
	if e.nick != "" {
		r.nicks[e.nick] = j
	}
}

// destroyed marks the room gone and forgets it; r.mu is held. A
// temporary room's archive goes with it; a persistent room's stays (the
// room is only unloaded, at shutdown), unless its owner destroyed it.
func (r *room) destroyed() {
	if !r.cfg.Persistent {
		r.dropArchive()
	}
	r.closed = true
	for full := range r.bySession {
		r.svc.dropSession(full, r)
	}
	r.svc.forget(r)
}

// dropArchive queues the deletion of the room's archive, once, if it may
// have one.
func (r *room) dropArchive() {
	if !r.hasArchive || r.archiveDropped || r.svc.m.roomArchive() == nil {
		return
	}
	r.archiveDropped = true
	r.svc.m.archiveDelete(r.svc.domain, r.name)
}
