package upload

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Limits of a slot request.
const (
	maxNameBytes = 255 // the usual file system limit; XEP-0363 counts bytes
	maxTypeBytes = 255
	idLen        = 26 // base32 characters of 16 random bytes
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a fresh random slot and file id.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return idEncoding.EncodeToString(b)
}

// validID reports whether s could be an id newID made: the only part of a
// request that ever becomes part of a path.
func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// validName reports why a file name is refused, or "" if it is fine: it must
// be valid UTF-8 in NFC, at most maxNameBytes, with no path separators, no
// control, format (bidi overrides, zero-width), private-use, surrogate,
// unassigned or line/paragraph separator characters, and not "." or "..".
// Names are never used as paths, but they end up in URLs, headers and the
// recipients' user interfaces.
func validName(name string) string {
	switch {
	case name == "":
		return "the file name is empty"
	case len(name) > maxNameBytes:
		return fmt.Sprintf("the file name is longer than %d bytes", maxNameBytes)
	case !utf8.ValidString(name):
		return "the file name is not UTF-8"
	case name == "." || name == "..":
		return "the file name is not a name"
	case strings.ContainsAny(name, `/\`):
		return "the file name contains a path separator"
	case !norm.NFC.IsNormalString(name):
		return "the file name is not in Unicode normalization form C"
	case strings.TrimSpace(name) != name:
		return "the file name starts or ends with white space"
	}
	for _, r := range name {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp) ||
			!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs) || r == utf8.RuneError {
			return fmt.Sprintf("the file name contains the character U+%04X", r)
		}
	}
	return ""
}

// validType returns the canonical form of a declared content type, or ok
// false when it does not parse as a media type.
func validType(t string) (string, bool) {
	if t == "" {
		return "", true
	}
	if len(t) > maxTypeBytes {
		return "", false
	}
	mt, params, err := mime.ParseMediaType(t)
	if err != nil || !strings.Contains(mt, "/") {
		return "", false
	}
	return mime.FormatMediaType(mt, params), true
}

// requestSlot checks a slot request and issues the slot; on refusal it
// returns the stanza error and the XEP-0363 element to put in it.
func (u *Upload) requestSlot(st *router.Stanza, host string, req *xmppcore.Element) (*xmppcore.Element, stanza.Error, *xmppcore.Element) {
	from := st.From
	if !u.rt.IsLocalHost(from.Domainpart()) || from.Localpart() == "" {
		return nil, xmppcore.NewError(stanza.Forbidden, "Only users of this server may upload files"), nil
	}
	name := req.Attr("filename")
	if why := validName(name); why != "" {
		u.log.Info("upload: slot refused", "user", from.Bare().String(), "reason", why)
		return nil, xmppcore.NewError(stanza.NotAcceptable, "Bad file name: "+why), nil
	}
	size, err := strconv.ParseInt(req.Attr("size"), 10, 64)
	if err != nil || size <= 0 {
		return nil, xmppcore.NewError(stanza.BadRequest, "The size must be a positive number of bytes"), nil
	}
	if size > u.opts.MaxFileSize {
		u.log.Info("upload: slot refused", "user", from.Bare().String(), "reason", "file too large", "size", size)
		return nil, xmppcore.NewError(stanza.NotAcceptable,
				fmt.Sprintf("File too large. The maximum file size is %d bytes", u.opts.MaxFileSize)),
			xmppcore.New(NS, "file-too-large").Append(
				xmppcore.New(NS, "max-file-size").AppendText(strconv.FormatInt(u.opts.MaxFileSize, 10)))
	}
	ctype, ok := validType(req.Attr("content-type"))
	if !ok {
		return nil, xmppcore.NewError(stanza.BadRequest, "The content type is not a media type"), nil
	}
	if ep := req.Child("urn:xmpp:http:upload:purpose:0", "ephemeral"); ep != nil {
		// Accepted like the default purpose when the file would expire
		// before the requested time anyway; otherwise it cannot be kept
		// to it, so refuse rather than keep it too long.
		t, err := time.Parse(time.RFC3339, ep.Attr("expire-before"))
		if err != nil || u.opts.Expiry == 0 || u.opts.Now().Add(u.opts.Expiry).After(t) {
			return nil, xmppcore.NewError(stanza.NotAcceptable, "This service cannot delete files before a given time"), nil
		}
	}

	now := u.opts.Now()
	owner := from.Bare().String()
	s := &slot{id: newID(), owner: owner, name: name, ctype: ctype, size: size, host: host,
		expires: now.Add(u.opts.SlotTimeout).Truncate(time.Second)}
	u.mu.Lock()
	us := u.user(owner)
	switch {
	case len(us.slots) >= u.opts.MaxPendingSlots || len(u.slots) >= maxSlotsTotal:
		u.mu.Unlock()
		u.log.Warn("upload: slot refused", "user", owner, "reason", "too many pending slots")
		return nil, xmppcore.NewError(stanza.ResourceConstraint, "Too many uploads pending"),
			xmppcore.New(NS, "retry", "stamp", s.expires.UTC().Format(time.RFC3339))
	case u.opts.Quota > 0 && us.bytes+size > u.opts.Quota:
		retry, ok := u.retryAt(us, size)
		u.mu.Unlock()
		u.log.Info("upload: slot refused", "user", owner, "reason", "quota", "used", us.bytes, "size", size)
		se := xmppcore.NewError(stanza.ResourceConstraint,
			fmt.Sprintf("Quota reached: you may keep at most %d bytes of files", u.opts.Quota))
		se.Type = stanza.Wait
		if !ok {
			return nil, se, nil
		}
		return nil, se, xmppcore.New(NS, "retry", "stamp", retry.UTC().Format(time.RFC3339))
	}
	u.slots[s.id] = s
	us.slots[s.id] = s
	us.bytes += size
	u.mu.Unlock()

	base := u.opts.BaseURL(host)
	path := base + s.id + "/" + url.PathEscape(name)
	q := url.Values{"e": {strconv.FormatInt(s.expires.Unix(), 10)}, "s": {u.sign(s, s.expires.Unix())}}
	u.log.Info("upload: slot issued", "user", owner, "id", logID(s.id), "size", size)
	return xmppcore.New(NS, "slot").Append(
		xmppcore.New(NS, "put", "url", path+"?"+q.Encode()),
		xmppcore.New(NS, "get", "url", path)), stanza.Error{}, nil
}

// user returns the usage record of owner, made if needed; u.mu is held.
func (u *Upload) user(owner string) *usage {
	us := u.users[owner]
	if us == nil {
		us = &usage{files: make(map[string]*fileMeta), slots: make(map[string]*slot)}
		u.users[owner] = us
	}
	return us
}

// retryAt is the earliest time at which enough of the user's files and
// slots expire for size more bytes to fit the quota; ok is false when that
// never happens by expiry alone. u.mu is held.
func (u *Upload) retryAt(us *usage, size int64) (time.Time, bool) {
	if size > u.opts.Quota {
		return time.Time{}, false
	}
	type held struct {
		until time.Time
		bytes int64
	}
	var hs []held
	for _, s := range us.slots {
		hs = append(hs, held{s.expires, s.size})
	}
	if u.opts.Expiry > 0 {
		for _, f := range us.files {
			hs = append(hs, held{f.Created.Add(u.opts.Expiry), f.Size})
		}
	}
	slices.SortFunc(hs, func(a, b held) int { return a.until.Compare(b.until) })
	used := us.bytes
	for _, h := range hs {
		used -= h.bytes
		if used+size <= u.opts.Quota {
			return h.until.Add(time.Second).Truncate(time.Second), true
		}
	}
	return time.Time{}, false
}

// sign returns the signature of a slot's PUT URL with expiry exp.
func (u *Upload) sign(s *slot, exp int64) string {
	mac := hmac.New(sha256.New, u.key)
	for _, f := range []string{s.id, s.name, strconv.FormatInt(s.size, 10), s.ctype, strconv.FormatInt(exp, 10)} {
		mac.Write([]byte(strconv.Itoa(len(f))))
		mac.Write([]byte{':'})
		mac.Write([]byte(f))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkSignature reports whether sig is the signature of s with expiry exp.
func (u *Upload) checkSignature(s *slot, exp int64, sig string) bool {
	want := u.sign(s, exp)
	return hmac.Equal([]byte(want), []byte(sig))
}

// logID is the part of an id that logs show: enough to follow one file
// through them, not enough to fetch it (the full id is the GET URL's only
// secret).
func logID(id string) string {
	if len(id) > 6 {
		return id[:6] + "…"
	}
	return id
}
