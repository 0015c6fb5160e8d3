package storage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Affiliations with a multi-user chat room (XEP-0045 §5.2). AffNone is the
// absence of an affiliation: it is never stored, and SetMUCAffiliations
// takes it to mean "remove".
const (
	AffOwner   = "owner"
	AffAdmin   = "admin"
	AffMember  = "member"
	AffOutcast = "outcast"
	AffNone    = "none"
)

// MUCRoom is a persistent XEP-0045 room. Rooms that are not persistent are
// never stored: they live only in the memory of the MUC service.
//
// Service is the domain of the MUC service (conference.example.org) and
// Name the room's localpart, both as already normalized by the caller and
// compared byte for byte.
type MUCRoom struct {
	Service string
	Name    string
	Config  MUCConfig
	// Subject is the current subject; SubjectBy the nickname of the
	// occupant who set it ("" for the room itself) and SubjectAt when. A
	// zero SubjectAt means the subject was never set; an empty Subject with
	// a SubjectAt means it was cleared.
	Subject   string
	SubjectBy string
	SubjectAt time.Time // to the microsecond, in UTC
	// Created is when the room was created, to the microsecond, in UTC.
	Created time.Time
	// Affiliations are the room's affiliations, in ascending byte order of
	// JID. ListMUCRooms leaves them nil.
	Affiliations []MUCAffiliation
}

// MUCConfig is a room's configuration (the muc#roomconfig form of XEP-0045
// §10.2, as far as Parley supports it). Stored rooms are persistent, so
// there is no field for that.
//
// Backends keep it as a document, so that a field added later needs no
// migration: rooms stored before it read back with its zero value, which
// must therefore mean the behaviour rooms had before the field existed.
type MUCConfig struct {
	Name        string `json:"name,omitempty"`        // muc#roomconfig_roomname
	Description string `json:"description,omitempty"` // muc#roomconfig_roomdesc
	Lang        string `json:"lang,omitempty"`        // muc#roomconfig_lang
	Public      bool   `json:"public,omitempty"`      // listed in disco#items (muc_public)
	MembersOnly bool   `json:"members_only,omitempty"`
	Moderated   bool   `json:"moderated,omitempty"`
	// Password is the room secret; empty when the room has none.
	Password string `json:"password,omitempty"`
	// MaxUsers bounds the occupants; 0 means the service's limit.
	MaxUsers int `json:"max_users,omitempty"`
	// WhoisAnyone makes the room non-anonymous: every occupant sees real
	// JIDs, not only moderators (muc#roomconfig_whois "anyone").
	WhoisAnyone   bool `json:"whois_anyone,omitempty"`
	AllowInvites  bool `json:"allow_invites,omitempty"`
	ChangeSubject bool `json:"change_subject,omitempty"`
	// HistoryLength is how many messages the room keeps for newcomers.
	HistoryLength int `json:"history_length,omitempty"`
	// PresenceBroadcast lists the roles whose presence is broadcast; nil
	// means all of them.
	PresenceBroadcast []string `json:"presence_broadcast,omitempty"`
	// AllowPM says who may send private messages: "" or "anyone",
	// "participants", "moderators" or "none".
	AllowPM string `json:"allow_pm,omitempty"`
	// Archive enables archiving of the room's messages (XEP-0313).
	Archive bool `json:"archive,omitempty"`
	// NoVoiceRequests turns off XEP-0045 §7.13 voice requests.
	NoVoiceRequests bool `json:"no_voice_requests,omitempty"`
	// MemberListRoles lists the roles whose occupants may retrieve the
	// member list (muc#roomconfig_getmemberlist), besides admins and
	// owners. Nil means the default (moderators); an empty list, nobody
	// else: it is kept as [] rather than left out, so that the two differ.
	MemberListRoles []string `json:"member_list_roles"`
	// VCard is the room's vcard-temp (XEP-0054) as its owners set it,
	// serialized in the client namespace; its photos are the room's
	// avatar (XEP-0486). Nil when none.
	VCard []byte `json:"vcard,omitempty"`
}

// MUCAffiliation is the affiliation of a bare JID (or of a whole domain,
// for bans) with a room.
type MUCAffiliation struct {
	JID         string // bare JID or domain, normalized by the caller
	Affiliation string // AffOwner, AffAdmin, AffMember or AffOutcast
	// Nick is the nickname registered for the JID in the room, "" if none.
	// A registered nickname belongs to one JID per room.
	Nick   string
	Reason string
}

// MUC stores persistent multi-user chat rooms: configuration, subject and
// affiliations. Rooms are independent of accounts: DeleteAccount leaves
// them, and affiliations may name any JID, local or not.
type MUC interface {
	// CreateMUCRoom stores a new room with its affiliations, or returns
	// ErrConflict if a room of that name exists on that service, or if two
	// affiliations register the same nickname.
	CreateMUCRoom(ctx context.Context, room MUCRoom) error
	// MUCRoom returns a room with its affiliations, or ErrNotFound.
	MUCRoom(ctx context.Context, service, name string) (MUCRoom, error)
	// UpdateMUCRoom replaces a room's configuration and subject; its
	// affiliations and creation time stay as they are. It returns
	// ErrNotFound if the room does not exist.
	UpdateMUCRoom(ctx context.Context, room MUCRoom) error
	// DeleteMUCRoom removes a room and its affiliations, or returns
	// ErrNotFound.
	DeleteMUCRoom(ctx context.Context, service, name string) error
	// ListMUCRooms returns the rooms of a service, without their
	// affiliations, in ascending byte order of name.
	ListMUCRooms(ctx context.Context, service string) ([]MUCRoom, error)
	// SetMUCAffiliations applies changes to a room's affiliations, all or
	// none: each sets the affiliation, nickname and reason of its JID,
	// or, with AffNone, removes the JID's affiliation (removing one that
	// is absent is not an error). Changes apply in order, so a JID named
	// twice ends with the last change. It returns ErrNotFound if the room
	// does not exist, and ErrConflict, changing nothing, if a nickname
	// would then be registered by two JIDs.
	SetMUCAffiliations(ctx context.Context, service, name string, changes []MUCAffiliation) error
	// MUCRoomsWithAffiliation returns the names of the rooms of a service
	// where jid has the given affiliation, in ascending byte order.
	MUCRoomsWithAffiliation(ctx context.Context, service, jid, affiliation string) ([]string, error)
}

// MUCChanges checks the changes given to SetMUCAffiliations and reduces
// them to the last change of each JID, in ascending byte order of JID: the
// form backends apply. An unknown affiliation or an empty JID is an error
// (not a sentinel).
func MUCChanges(changes []MUCAffiliation) ([]MUCAffiliation, error) {
	last := make(map[string]MUCAffiliation, len(changes))
	for _, c := range changes {
		switch c.Affiliation {
		case AffOwner, AffAdmin, AffMember, AffOutcast, AffNone:
		default:
			return nil, fmt.Errorf("storage: unknown affiliation %q", c.Affiliation)
		}
		if c.JID == "" {
			return nil, errors.New("storage: affiliation without a JID")
		}
		last[c.JID] = c
	}
	out := make([]MUCAffiliation, 0, len(last))
	for _, j := range slices.Sorted(maps.Keys(last)) {
		out = append(out, last[j])
	}
	return out, nil
}
