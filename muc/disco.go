package muc

import (
	"context"
	"slices"
	"strconv"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// discoInfo is the service's disco#info (§6.2): a conference/text
// identity and the features every room has.
func (s *service) discoInfo(q *xmppcore.Element) (*xmppcore.Element, error) {
	if q.Attr("node") != "" {
		return nil, errNotFound
	}
	res := xmppcore.New(NSDiscoInfo, "query").Append(
		xmppcore.New(NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", s.m.opts.Name))
	for _, f := range []string{NSDiscoInfo, NSDiscoItems, NS, NSStableID, NSOccupantID, NSPing, NSVCard} {
		res.Append(xmppcore.New(NSDiscoInfo, "feature", "var", f))
	}
	return res, nil
}

// discoItems lists the public rooms (§6.3): the live ones that are
// unlocked, and the stored ones.
func (s *service) discoItems(ctx context.Context, q *xmppcore.Element) (*xmppcore.Element, error) {
	if q.Attr("node") != "" {
		return nil, errNotFound
	}
	names := make(map[string]string) // room -> name
	live := make(map[string]bool)
	for _, r := range s.liveRooms() {
		r.mu.Lock()
		if !r.closed {
			live[r.name] = true
			if r.cfg.Public && !r.locked {
				names[r.name] = r.cfg.Name
			}
		}
		r.mu.Unlock()
	}
	stored, err := s.m.store.ListMUCRooms(ctx, s.domain)
	if err != nil {
		return nil, err
	}
	for _, sr := range stored {
		if !live[sr.Name] && sr.Config.Public {
			names[sr.Name] = sr.Config.Name
		}
	}
	res := xmppcore.New(NSDiscoItems, "query")
	for _, n := range sortedKeys(names) {
		it := xmppcore.New(NSDiscoItems, "item", "jid", n+"@"+s.domain)
		if names[n] != "" {
			it.SetAttr("name", names[n])
		}
		res.Append(it)
	}
	return res, nil
}

// discoInfo is the room's disco#info (§6.4): identity, features saying
// what kind of room it is, and the muc#roominfo form; the node
// x-roomuser-item gives the requester's registered nickname (§7.12).
func (r *room) discoInfo(st *router.Stanza, q *xmppcore.Element) {
	res := xmppcore.New(NSDiscoInfo, "query")
	switch node := q.Attr("node"); node {
	case "":
	case "x-roomuser-item":
		res.SetAttr("node", node)
		if e, ok := r.affs[st.From.Bare().String()]; ok && e.nick != "" && e.aff >= affMember {
			res.Append(xmppcore.New(NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", e.nick))
		}
		r.resultTo(st, res)
		return
	case NSTraffic:
		r.errorTo(st, errUnavailable) // §16.1.1: nothing is filtered
		return
	default:
		r.errorTo(st, errNotFound)
		return
	}
	c := r.cfg
	name := c.Name
	if name == "" {
		name = r.name
	}
	res.Append(xmppcore.New(NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", name))
	features := []string{NSDiscoInfo, NSDiscoItems, NS, NSStableID, NSSelfPing, NSOccupantID, NSSID, NSPing, NSVCard,
		pick(c.Public, "muc_public", "muc_hidden"),
		pick(c.MembersOnly, "muc_membersonly", "muc_open"),
		pick(c.Moderated, "muc_moderated", "muc_unmoderated"),
		pick(c.Password != "", "muc_passwordprotected", "muc_unsecured"),
		pick(c.Persistent, "muc_persistent", "muc_temporary"),
		pick(c.WhoisAnyone, "muc_nonanonymous", "muc_semianonymous")}
	if !r.svc.m.opts.NoRegistration {
		features = append(features, NSIQRegister)
	}
	features = append(features, r.archiveFeatures()...)
	slices.Sort(features)
	for _, f := range features {
		res.Append(xmppcore.New(NSDiscoInfo, "feature", "var", f))
	}
	subjectMod := c.ChangeSubject
	info := dataForm("result", NSRoomInfo, "", "",
		field("muc#roominfo_description", "", "Description", c.Description),
		field("muc#roominfo_subject", "", "Current Discussion Topic", r.subject),
		field("muc#roominfo_occupants", "", "Number of occupants", strconv.Itoa(len(r.occupants))),
		field("muc#roomconfig_roomname", "", "Natural-Language Room Name", c.Name),
		field("muc#roominfo_lang", "", "Language of discussion", c.Lang),
		field("muc#roomconfig_changesubject", "", "Subject can be modified", boolValue(subjectMod)),
		field("muc#roominfo_subjectmod", "", "Subject can be modified by participants", boolValue(subjectMod)),
		field(fHistory, "", "Maximum Number of History Messages Returned by Room", strconv.Itoa(c.HistoryLength)),
	)
	if f := r.avatarHashField(); f != nil {
		info.Append(f) // XEP-0486
	}
	r.resultTo(st, res.Append(info))
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// discoItems is the room's disco#items (§6.5): its occupants, only to
// occupants; the list is private to others.
func (r *room) discoItems(st *router.Stanza, q *xmppcore.Element) {
	if q.Attr("node") != "" {
		r.errorTo(st, errNotFound)
		return
	}
	res := xmppcore.New(NSDiscoItems, "query")
	if r.bySession[st.From.String()] != nil {
		for _, nick := range sortedKeys(r.occupants) {
			o := r.occupants[nick]
			if r.broadcasts(o.role) {
				res.Append(xmppcore.New(NSDiscoItems, "item", "jid", o.jidStr))
			}
		}
	}
	r.resultTo(st, res)
}
