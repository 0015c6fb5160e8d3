package muc

import (
	"context"
	"reflect"
	"slices"
	"strconv"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Fields of the muc#roomconfig form (§15.5.3).
const (
	fRoomName      = "muc#roomconfig_roomname"
	fRoomDesc      = "muc#roomconfig_roomdesc"
	fLang          = "muc#roomconfig_lang"
	fPersistent    = "muc#roomconfig_persistentroom"
	fPublic        = "muc#roomconfig_publicroom"
	fMembersOnly   = "muc#roomconfig_membersonly"
	fModerated     = "muc#roomconfig_moderatedroom"
	fPasswordProt  = "muc#roomconfig_passwordprotectedroom"
	fSecret        = "muc#roomconfig_roomsecret"
	fMaxUsers      = "muc#roomconfig_maxusers"
	fWhois         = "muc#roomconfig_whois"
	fAllowInvites  = "muc#roomconfig_allowinvites"
	fChangeSubject = "muc#roomconfig_changesubject"
	fHistory       = "muc#maxhistoryfetch"
	fHistoryAlt    = "muc#roomconfig_historylength" // Prosody's name
	fBroadcast     = "muc#roomconfig_presencebroadcast"
	fAllowPM       = "muc#roomconfig_allowpm"
	fArchive       = "muc#roomconfig_enablearchiving"
	fLogging       = "muc#roomconfig_enablelogging"
	fVoiceRequests = "muc#roomconfig_allowvoicerequests"
	fRoomAdmins    = "muc#roomconfig_roomadmins"
	fRoomOwners    = "muc#roomconfig_roomowners"
	fGetMemberList = "muc#roomconfig_getmemberlist"
)

// defaultMemberListRoles are the roles that may retrieve the member list
// when the owner never chose (MUCConfig.MemberListRoles nil).
var defaultMemberListRoles = []string{"moderator"}

// memberListRoles are the roles whose occupants may retrieve the member
// list.
func (r *room) memberListRoles() []string {
	if r.cfg.MemberListRoles == nil {
		return defaultMemberListRoles
	}
	return r.cfg.MemberListRoles
}

// withAffiliation returns the bare JIDs (and domains) with the
// affiliation a, sorted.
func (r *room) withAffiliation(a affiliation) []string {
	var out []string
	for _, j := range sortedKeys(r.affs) {
		if r.affs[j].aff == a {
			out = append(out, j)
		}
	}
	return out
}

// configForm is the room's configuration form, with the current values.
func (r *room) configForm() *xmppcore.Element {
	c := r.cfg
	bc := c.PresenceBroadcast
	if bc == nil {
		bc = []string{"moderator", "participant", "visitor"}
	}
	maxUsers := "none"
	if c.MaxUsers > 0 {
		maxUsers = strconv.Itoa(c.MaxUsers)
	}
	whois := "moderators"
	if c.WhoisAnyone {
		whois = "anyone"
	}
	pm := c.AllowPM
	if pm == "" {
		pm = pmAnyone
	}
	roles := [][2]string{{"moderator", "Moderator"}, {"participant", "Participant"}, {"visitor", "Visitor"}}
	return dataForm("form", NSRoomConfig, "Configuration for "+r.jidStr,
		"Complete this form to modify the configuration of your room.",
		field(fRoomName, "text-single", "Natural-Language Room Name", c.Name),
		field(fRoomDesc, "text-single", "Short Description of Room", c.Description),
		field(fLang, "text-single", "Natural Language for Room Discussions", c.Lang),
		field(fPersistent, "boolean", "Make Room Persistent?", boolValue(c.Persistent)),
		field(fPublic, "boolean", "Make Room Publicly Searchable?", boolValue(c.Public)),
		field(fMembersOnly, "boolean", "Make Room Members-Only?", boolValue(c.MembersOnly)),
		field(fModerated, "boolean", "Make Room Moderated?", boolValue(c.Moderated)),
		field(fPasswordProt, "boolean", "Password Required to Enter?", boolValue(c.Password != "")),
		field(fSecret, "text-private", "Password", c.Password),
		withOptions(field(fMaxUsers, "list-single", "Maximum Number of Occupants", maxUsers),
			[2]string{"10", "10"}, [2]string{"20", "20"}, [2]string{"50", "50"}, [2]string{"100", "100"},
			[2]string{"none", "None"}),
		withOptions(field(fWhois, "list-single", "Who May Discover Real JIDs?", whois),
			[2]string{"moderators", "Moderators Only"}, [2]string{"anyone", "Anyone"}),
		field(fAllowInvites, "boolean", "Allow Members to Invite Others?", boolValue(c.AllowInvites)),
		field(fChangeSubject, "boolean", "Allow Occupants to Change Subject?", boolValue(c.ChangeSubject)),
		field(fHistory, "text-single", "Maximum Number of History Messages Returned by Room", strconv.Itoa(c.HistoryLength)),
		withOptions(field(fBroadcast, "list-multi", "Roles for which Presence is Broadcasted", bc...), roles...),
		withOptions(field(fAllowPM, "list-single", "Who Can Send Private Messages?", pm),
			[2]string{pmAnyone, "Anyone"}, [2]string{pmParticipants, "Anyone with Voice"},
			[2]string{pmModerators, "Moderators Only"}, [2]string{pmNone, "Nobody"}),
		field(fArchive, "boolean", "Archive the Room's Messages?", boolValue(c.Archive)),
		field(fVoiceRequests, "boolean", "Allow Visitors to Request Voice?", boolValue(!c.NoVoiceRequests)),
		withOptions(field(fGetMemberList, "list-multi", "Roles that May Retrieve Member List", r.memberListRoles()...), roles...),
		field(fRoomAdmins, "jid-multi", "Full List of Room Admins", r.withAffiliation(affAdmin)...),
		field(fRoomOwners, "jid-multi", "Full List of Room Owners", r.withAffiliation(affOwner)...),
	)
}

// applyForm returns the configuration a submitted form makes of the
// current one: fields absent stay as they are, and a value the service
// cannot take is not-acceptable (§10.1.3).
func (r *room) applyForm(vals map[string][]string) (RoomConfig, error) {
	c := r.cfg
	c.PresenceBroadcast = slices.Clone(c.PresenceBroadcast)
	if ft, ok := vals["FORM_TYPE"]; ok && first(ft) != NSRoomConfig {
		return c, errBadRequest
	}
	boolField := func(name string, dst *bool) error {
		if vs, ok := vals[name]; ok {
			v, valid := parseBool(first(vs))
			if !valid {
				return errNotAcceptable
			}
			*dst = v
		}
		return nil
	}
	var protect, allowVoice bool
	_, hasProtect := vals[fPasswordProt]
	allowVoice = !c.NoVoiceRequests
	protect = c.Password != ""
	for _, b := range []struct {
		name string
		dst  *bool
	}{{fPersistent, &c.Persistent}, {fPublic, &c.Public}, {fMembersOnly, &c.MembersOnly},
		{fModerated, &c.Moderated}, {fPasswordProt, &protect}, {fAllowInvites, &c.AllowInvites},
		{fChangeSubject, &c.ChangeSubject}, {fLogging, &c.Archive}, {fArchive, &c.Archive},
		{fVoiceRequests, &allowVoice}} {
		if err := boolField(b.name, b.dst); err != nil {
			return c, err
		}
	}
	c.NoVoiceRequests = !allowVoice
	for name, dst := range map[string]*string{fRoomName: &c.Name, fRoomDesc: &c.Description, fLang: &c.Lang} {
		if vs, ok := vals[name]; ok {
			*dst = first(vs)
		}
	}
	secret, hasSecret := vals[fSecret]
	switch {
	case hasProtect && !protect:
		c.Password = ""
	case hasSecret && (protect || !hasProtect):
		c.Password = first(secret)
	}
	if hasProtect && protect && c.Password == "" {
		return c, errNotAcceptable // §10.1.3: a password-protected room needs a password
	}
	if vs, ok := vals[fMaxUsers]; ok {
		switch v := first(vs); v {
		case "", "none", "0":
			c.MaxUsers = 0
		default:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return c, errNotAcceptable
			}
			c.MaxUsers = min(n, r.svc.m.opts.MaxOccupants)
		}
	}
	if vs, ok := vals[fWhois]; ok {
		switch first(vs) {
		case "moderators":
			c.WhoisAnyone = false
		case "anyone":
			c.WhoisAnyone = true
		default:
			return c, errNotAcceptable
		}
	}
	for _, name := range []string{fHistoryAlt, fHistory} {
		if vs, ok := vals[name]; ok {
			n, err := strconv.Atoi(first(vs))
			if err != nil || n < 0 {
				return c, errNotAcceptable
			}
			c.HistoryLength = min(n, r.svc.m.opts.MaxHistory)
		}
	}
	if vs, ok := vals[fBroadcast]; ok {
		list := []string{}
		for _, v := range vs {
			if rl, valid := parseRole(v); !valid || rl == roleNone {
				return c, errNotAcceptable
			}
			if !slices.Contains(list, v) {
				list = append(list, v)
			}
		}
		if len(list) == 3 {
			list = nil // all of them: the default
		}
		c.PresenceBroadcast = list
	}
	if vs, ok := vals[fGetMemberList]; ok {
		list := []string{}
		for _, v := range vs {
			if v == "" {
				continue // an empty value: nothing selected
			}
			if rl, valid := parseRole(v); !valid || rl == roleNone {
				return c, errNotAcceptable
			}
			if !slices.Contains(list, v) {
				list = append(list, v)
			}
		}
		c.MemberListRoles = list
	} else {
		c.MemberListRoles = slices.Clone(c.MemberListRoles)
	}
	if vs, ok := vals[fAllowPM]; ok {
		switch v := first(vs); v {
		case pmAnyone, pmParticipants, pmModerators, pmNone:
			c.AllowPM = v
		default:
			return c, errNotAcceptable
		}
	}
	return c, nil
}

// ownerGet sends the configuration form to an owner (§10.1.3, §10.2).
func (r *room) ownerGet(st *router.Stanza, q *xmppcore.Element) {
	if r.affOf(st.From) != affOwner {
		r.errorTo(st, errForbidden)
		return
	}
	if q.ChildCount() != 0 {
		r.errorTo(st, errBadRequest)
		return
	}
	r.resultTo(st, xmppcore.New(NSOwner, "query").Append(r.configForm()))
}

// ownerSet handles a configuration form submitted or canceled, and room
// destruction (§10.1, §10.2, §10.9).
func (r *room) ownerSet(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	if r.affOf(st.From) != affOwner {
		r.errorTo(st, errForbidden)
		return
	}
	if d := q.Child(NSOwner, "destroy"); d != nil {
		r.destroy(ctx, st, d)
		return
	}
	x := q.Child(NSData, "x")
	if x == nil {
		r.errorTo(st, errBadRequest)
		return
	}
	switch x.Attr("type") {
	case "cancel":
		if r.locked { // §10.1.3: canceling the initial configuration destroys the room
			r.destroy(ctx, st, nil)
			return
		}
		r.resultTo(st, nil)
	case "submit":
		r.configure(ctx, st, formValues(x))
	default:
		r.errorTo(st, errBadRequest)
	}
}

// configure applies a submitted configuration: storage first, then the
// room, then what the change means for the occupants (§10.2).
func (r *room) configure(ctx context.Context, st *router.Stanza, vals map[string][]string) {
	next, err := r.applyForm(vals)
	var affs []affChange
	if err == nil {
		affs, err = r.formAffiliations(vals)
	}
	if err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	prev := r.cfg
	r.cfg = next
	switch {
	case next.Persistent && !r.inStore:
		err = r.storeNew(ctx)
	case !next.Persistent && r.inStore:
		err = r.storeDelete(ctx)
	default:
		err = r.storeUpdate(ctx)
	}
	if err != nil {
		r.cfg = prev
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	// The affiliations after the configuration, so that a room made
	// persistent by this form is stored first. Should storage then refuse
	// them, the configuration stays applied and the owner is told.
	if err := r.persistAffiliations(ctx, affs); err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	wasLocked := r.locked
	r.locked = false
	r.history.resize(next.HistoryLength)
	r.resultTo(st, nil)
	r.affiliationsChanged(ctx, affs, r.actorOf(st.From), st.From.Bare())

	if next.MembersOnly && !prev.MembersOnly {
		// §10.2: non-members leave, with 322.
		for _, nick := range sortedKeys(r.occupants) {
			o := r.occupants[nick]
			if aff := r.affOf(o.bare); aff < affMember {
				r.removeOccupant(ctx, o, func(withJID bool) *xmppcore.Element {
					it := xmppcore.New(NSUser, "item", "affiliation", aff.String(), "role", "none")
					if withJID && o.current != nil {
						it.SetAttr("jid", o.current.rc.str)
					}
					return it
				}, statusMembersOnly)
			}
		}
	}
	if !wasLocked {
		r.notifyConfig(prev, next)
	}
	if len(r.occupants) == 0 && !next.Persistent {
		r.destroyed()
	}
}

// formAffiliations returns the affiliation changes that the submitted
// lists of admins and owners (muc#roomconfig_roomadmins, _roomowners,
// each the full list) make: those listed get the affiliation, those no
// longer listed lose it (to none, or to admin when only dropped from the
// owners and listed as admins). A JID that does not parse, or a domain,
// is not-acceptable; a list that leaves the room without an owner is a
// conflict, as in §10.7.
func (r *room) formAffiliations(vals map[string][]string) ([]affChange, error) {
	admins, hasAdmins := vals[fRoomAdmins]
	owners, hasOwners := vals[fRoomOwners]
	if !hasAdmins && !hasOwners {
		return nil, nil
	}
	parse := func(list []string) (map[string]jid.JID, error) {
		out := make(map[string]jid.JID, len(list))
		for _, v := range list {
			if v == "" {
				continue
			}
			j, err := jid.Parse(v)
			if err != nil || j.Localpart() == "" {
				return nil, errNotAcceptable
			}
			out[j.Bare().String()] = j.Bare()
		}
		return out, nil
	}
	wantAdmins, err := parse(admins)
	if err != nil {
		return nil, err
	}
	wantOwners, err := parse(owners)
	if err != nil {
		return nil, err
	}
	target := make(map[string]affiliation) // JIDs whose affiliation the lists decide
	jids := make(map[string]jid.JID)
	if hasOwners {
		for _, k := range r.withAffiliation(affOwner) {
			target[k], jids[k] = affNone, jid.MustParse(k)
		}
		for k, j := range wantOwners {
			target[k], jids[k] = affOwner, j
		}
	}
	if hasAdmins {
		for _, k := range r.withAffiliation(affAdmin) {
			if _, owner := wantOwners[k]; !owner {
				target[k], jids[k] = affNone, jid.MustParse(k)
			}
		}
		for k, j := range wantAdmins {
			if _, owner := wantOwners[k]; owner {
				continue // listed as both: owner
			}
			if e, ok := r.affs[k]; ok && e.aff == affOwner && !hasOwners {
				continue // the owners are not being set: an owner stays one
			}
			if t, decided := target[k]; !decided || t == affNone {
				target[k], jids[k] = affAdmin, j
			}
		}
	}
	var changes []affChange
	for _, k := range sortedKeys(target) {
		a := target[k]
		cur := affNone
		if e, ok := r.affs[k]; ok {
			cur = e.aff
		}
		if a == cur || (a == affNone && cur < affAdmin) {
			continue
		}
		changes = append(changes, affChange{key: k, j: jids[k], aff: a, reason: r.affs[k].reason})
	}
	if err := r.checkOwnersLeft(changes); err != nil {
		return nil, err
	}
	return changes, nil
}

// notifyConfig tells the occupants the configuration changed (§10.2.1):
// 170-173 for changes to privacy, 104 for the others.
func (r *room) notifyConfig(prev, next RoomConfig) {
	var codes []int
	if next.Archive != prev.Archive {
		codes = append(codes, map[bool]int{true: statusLogging, false: statusLoggingOff}[next.Archive])
	}
	if next.WhoisAnyone != prev.WhoisAnyone {
		codes = append(codes, map[bool]int{true: statusNowNonAnon, false: statusNowSemiAnon}[next.WhoisAnyone])
	}
	p, n := prev, next
	p.Archive, n.Archive, p.WhoisAnyone, n.WhoisAnyone = false, false, false, false
	if !configEqual(p, n) {
		codes = append(codes, statusConfigChanged)
	}
	if len(codes) == 0 {
		return
	}
	el := xmppcore.New("", xmppcore.Message, "from", r.jidStr, "type", "groupchat", "id", newID()).
		Append(statusCodes(xmppcore.New(NSUser, "x"), codes...))
	r.fanout(el, r.jid, r.everyone())
}

func configEqual(a, b RoomConfig) bool {
	if !slices.Equal(a.PresenceBroadcast, b.PresenceBroadcast) {
		return false
	}
	a.PresenceBroadcast, b.PresenceBroadcast = nil, nil
	return reflect.DeepEqual(a, b)
}

// destroy destroys the room (§10.9): each occupant session gets one
// unavailable presence with the <destroy/> (alternate venue, reason,
// password), the owner the result, and the room is gone, from storage
// too. d is the owner's <destroy/>, nil on a canceled creation.
func (r *room) destroy(ctx context.Context, st *router.Stanza, d *xmppcore.Element) {
	if r.inStore {
		if err := r.storeDelete(ctx); err != nil {
			r.errorTo(st, asStanzaError(r.svc.m, err))
			return
		}
	}
	dst := xmppcore.New(NSUser, "destroy")
	if d != nil {
		if j := d.Attr("jid"); j != "" {
			dst.SetAttr("jid", j)
		}
		for c := range d.Children() {
			if c.Is(NSOwner, "reason") || c.Is(NSOwner, "password") {
				dst.Append(xmppcore.New(NSUser, c.Local).AppendText(c.Text()))
			}
		}
	}
	for _, nick := range sortedKeys(r.occupants) {
		o := r.occupants[nick]
		for _, s := range o.sessions {
			item := xmppcore.New(NSUser, "item", "affiliation", "none", "role", "none")
			p := r.presenceOf(o, nil, "unavailable", item, statusSelf)
			x := p.Child(NSUser, "x")
			x.Nodes = slices.Insert(x.Nodes, 1, xmppcore.Node{Elem: dst})
			r.send(p, o.jid, s.rc)
		}
	}
	r.resultTo(st, nil)
	r.dropArchive() // §10.9: the room is gone for good, its archive too
	r.destroyed()
	r.clearOccupants()
}
