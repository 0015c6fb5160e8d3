package muc

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Room avatars (XEP-0486): a room has a vcard-temp (XEP-0054), which
// anyone may get from the room's JID and only its owners set; the SHA-1 of
// each of its photos is in the room's muc#roominfo form, and a change is
// told to the occupants as a configuration change (status 104). The
// vCard is part of the room's configuration (storage.MUCConfig.VCard), so
// a persistent room keeps it.

// maxRoomVCard is the largest vCard a room takes, in bytes of its
// serialization: the limit accounts have (vcard.DefaultMaxSize).
const maxRoomVCard = 64 << 10

// fAvatarHash is the muc#roominfo field with the avatar's hashes.
const fAvatarHash = "muc#roominfo_avatarhash"

var (
	errVCardOwners = xmppcore.NewError(stanza.Forbidden, "only owners may set the room's vCard")
	errVCardTooBig = xmppcore.NewError(stanza.NotAcceptable, fmt.Sprintf("the vCard is larger than %d bytes", maxRoomVCard))
	errVCardPhoto  = xmppcore.NewError(stanza.BadRequest, "a PHOTO's BINVAL is not base64")
)

// avatarCache holds the hashes of the photos of the vCard src, so that
// disco#info does not parse the vCard each time.
type avatarCache struct {
	src    []byte
	hashes []string
}

// vcard handles a vcard-temp get or set on the room's JID.
func (r *room) vcard(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	if st.Type() == "get" {
		r.vcardGet(st, q)
		return
	}
	r.vcardSet(ctx, st, q)
}

// vcardGet answers with the room's vCard, empty when it has none.
func (r *room) vcardGet(st *router.Stanza, q *xmppcore.Element) {
	if q.ChildCount() != 0 {
		r.errorTo(st, errBadRequest)
		return
	}
	if len(r.cfg.VCard) == 0 {
		r.resultTo(st, xmppcore.New(NSVCard, "vCard"))
		return
	}
	el, err := xmppcore.Parse(r.cfg.VCard)
	if err == nil && !el.Is(NSVCard, "vCard") {
		err = fmt.Errorf("stored element is {%s}%s", el.Space, el.Local)
	}
	if err != nil {
		r.svc.m.log.Error("muc: room vCard", "room", r.jidStr, "err", err)
		r.errorTo(st, errInternal)
		return
	}
	r.resultTo(st, el)
}

// vcardSet replaces the room's vCard (an empty one removes it), for
// owners only: storage first, then the room, then the occupants hear of
// it as of any configuration change.
func (r *room) vcardSet(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	if r.affOf(st.From) != affOwner {
		r.errorTo(st, errVCardOwners)
		return
	}
	var b []byte
	if q.ChildCount() != 0 {
		if _, err := photoHashes(q); err != nil {
			r.errorTo(st, errVCardPhoto)
			return
		}
		b = q.AppendXML(nil, xmppcore.NSClient)
		if len(b) > maxRoomVCard {
			r.errorTo(st, errVCardTooBig)
			return
		}
	}
	prev := r.cfg
	r.cfg.VCard = b
	if err := r.storeUpdate(ctx); err != nil {
		r.cfg = prev
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	r.resultTo(st, nil)
	if !r.locked {
		r.notifyConfig(prev, r.cfg) // 104, if it changed
	}
}

// avatarHashes are the hashes of the photos of the room's vCard, for
// its muc#roominfo form; nil when it has none.
func (r *room) avatarHashes() []string {
	if len(r.cfg.VCard) == 0 {
		return nil
	}
	if !bytes.Equal(r.avatar.src, r.cfg.VCard) {
		var hashes []string
		if el, err := xmppcore.Parse(r.cfg.VCard); err == nil {
			hashes, _ = photoHashes(el)
		}
		r.avatar = avatarCache{src: r.cfg.VCard, hashes: hashes}
	}
	return r.avatar.hashes
}

// avatarHashField is the muc#roominfo field of XEP-0486, nil when the
// room has no avatar.
func (r *room) avatarHashField() *xmppcore.Element {
	h := r.avatarHashes()
	if len(h) == 0 {
		return nil
	}
	return field(fAvatarHash, "text-multi", "Avatar hash", h...)
}

// photoHashes returns the SHA-1 (hex) of the image of each PHOTO of a
// vCard with a BINVAL, as XEP-0153 computes it, without repeats; an
// undecodable BINVAL is an error.
func photoHashes(v *xmppcore.Element) ([]string, error) {
	var hashes []string
	for p := range v.Children() {
		if !p.Is(NSVCard, "PHOTO") {
			continue
		}
		bin := p.Child(NSVCard, "BINVAL")
		if bin == nil {
			continue // EXTVAL: nothing to hash
		}
		data := strings.Map(func(c rune) rune {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				return -1
			}
			return c
		}, bin.Text())
		img, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			if img, err = base64.RawStdEncoding.DecodeString(data); err != nil {
				return nil, err
			}
		}
		if len(img) == 0 {
			continue
		}
		sum := sha1.Sum(img)
		if h := hex.EncodeToString(sum[:]); !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	return hashes, nil
}
