package mam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// prefsCache keeps users' preferences in memory, so that archiving a
// message does not read the database. It is read for both parties of
// every message, so a hit takes a read lock and a map index by a key
// built on the stack, no clock and no allocation. Entries are dropped when
// they are changed here, and when the user's last session ends (an
// account removed in band ends its sessions, and a new account of the
// same name must not inherit its preferences); a change made elsewhere
// (another process on the same database) is seen within ttl, because
// rotate, called every ttl/2, retires the current generation of entries
// and forgets the previous one. The cache is bounded.
type prefsCache struct {
	max int
	ttl time.Duration

	mu  sync.RWMutex
	cur map[string]prefsEntry // by bare JID
	old map[string]prefsEntry // the generation before: forgotten at the next rotate
}

type prefsEntry struct {
	p   storage.ArchivePrefs
	set bool // false: the user never set any; p is the server default
}

func newPrefsCache(max int, ttl time.Duration) *prefsCache {
	return &prefsCache{max: max, ttl: ttl, cur: make(map[string]prefsEntry), old: make(map[string]prefsEntry)}
}

func (c *prefsCache) get(owner jid.JID) (prefsEntry, bool) {
	var buf [64]byte
	key := router.AppendBare(buf[:0], owner)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.cur[string(key)]; ok {
		return e, true
	}
	e, ok := c.old[string(key)]
	return e, ok
}

func (c *prefsCache) put(key string, e prefsEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.old, key)
	if _, ok := c.cur[key]; !ok && len(c.cur)+len(c.old) >= c.max {
		// An arbitrary victim (map order is random), the older first.
		victims := c.old
		if len(victims) == 0 {
			victims = c.cur
		}
		for k := range victims {
			delete(victims, k)
			break
		}
	}
	c.cur[key] = e
}

func (c *prefsCache) drop(key string) {
	c.mu.Lock()
	delete(c.cur, key)
	delete(c.old, key)
	c.mu.Unlock()
}

// rotate retires the current entries and forgets those retired by the
// previous call: an entry lives between one and two periods of rotate.
func (c *prefsCache) rotate() {
	c.mu.Lock()
	c.old, c.cur = c.cur, make(map[string]prefsEntry)
	c.mu.Unlock()
}

// expireLoop rotates the cache every ttl/2 until ctx ends.
func (c *prefsCache) expireLoop(ctx context.Context) {
	t := time.NewTicker(c.ttl / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.rotate()
		}
	}
}

// userPrefs returns the preferences in force for a user: theirs, or the
// server default. A storage failure yields the server default.
func (m *MAM) userPrefs(ctx context.Context, owner jid.JID) prefsEntry {
	if e, ok := m.prefs.get(owner); ok {
		return e
	}
	key := owner.String()
	// One read per user however many messages wait for it: when a busy
	// server starts, or the cache rotates, every message of a user would
	// otherwise read the database on its own.
	v, _, _ := m.prefsReads.Do(key, func() (any, error) {
		e := prefsEntry{p: storage.ArchivePrefs{Default: m.opts.Default}}
		p, err := m.store.ArchivePrefs(ctx, owner.Domainpart(), owner.Localpart())
		switch {
		case err == nil:
			e = prefsEntry{p: p, set: true}
		case errors.Is(err, storage.ErrNotFound):
		default:
			m.log.Error("reading archiving preferences failed", "user", key, "err", err)
			return e, nil // not cached: read again next time
		}
		m.prefs.put(key, e)
		return e, nil
	})
	return v.(prefsEntry)
}

// allowed applies the user's XEP-0441 preferences to the other party of a
// message: the never list, then the always list, then the default. A
// listed JID with a resource matches that full JID only; a bare one
// matches any resource of it (§2.3).
func (m *MAM) allowed(ctx context.Context, owner, other jid.JID) bool {
	p := m.userPrefs(ctx, owner).p
	if len(p.Never) > 0 || len(p.Always) > 0 {
		full, bare := other.String(), other.Bare().String()
		match := func(list []string) bool {
			return slices.Contains(list, full) || slices.Contains(list, bare)
		}
		switch {
		case match(p.Never):
			return false
		case match(p.Always):
			return true
		}
	}
	switch p.Default {
	case storage.ArchiveAlways:
		return true
	case storage.ArchiveRoster:
		return m.inRoster(ctx, owner, other.Bare())
	}
	return false
}

// inRoster reports whether contact is in owner's roster (the user's own
// account counts as in it). An item that exists only for a pending
// request from the contact is not in the roster (RFC 6121 §3.1.3).
func (m *MAM) inRoster(ctx context.Context, owner, contact jid.JID) bool {
	if contact.Equal(owner) {
		return true
	}
	it, err := m.store.RosterItem(ctx, owner.Domainpart(), owner.Localpart(), contact.String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false
	case err != nil:
		m.log.Error("reading the roster for archiving preferences failed", "user", owner.String(), "err", err)
		return false
	}
	return it.Subscription != storage.SubNone || it.PendingOut || !it.PendingIn
}

var errForbidden = xmppcore.NewError(stanza.Forbidden, "only the owner may use an archive")

// getPrefs answers a XEP-0441 preferences get.
func (m *MAM) getPrefs(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	m.prefs.drop(iq.To.String()) // read fresh: the user is looking
	return prefsElement(m.userPrefs(ctx, iq.To.Bare()).p), nil
}

// setPrefs answers a XEP-0441 preferences set: the preferences are
// replaced as a whole; a JID in both lists is kept in never only, and the
// reply shows what was applied.
func (m *MAM) setPrefs(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	p := storage.ArchivePrefs{Default: storage.ArchiveDefault(iq.Payload.Attr("default"))}
	switch p.Default {
	case storage.ArchiveAlways, storage.ArchiveNever, storage.ArchiveRoster:
	default:
		return nil, xmppcore.NewError(stanza.BadRequest, "default must be always, never or roster")
	}
	var err error
	if p.Always, err = m.prefsList(iq.Payload, "always"); err != nil {
		return nil, err
	}
	if p.Never, err = m.prefsList(iq.Payload, "never"); err != nil {
		return nil, err
	}
	p.Always = slices.DeleteFunc(p.Always, func(j string) bool { return slices.Contains(p.Never, j) })
	owner := iq.To.Bare()
	if err := m.store.SetArchivePrefs(ctx, owner.Domainpart(), owner.Localpart(), p); err != nil {
		return nil, fmt.Errorf("mam: set preferences of %s: %w", owner, err)
	}
	m.prefs.put(owner.String(), prefsEntry{p: p, set: true})
	return prefsElement(p), nil
}

// prefsList reads the JIDs of <always/> or <never/>, normalized, sorted
// and each once.
func (m *MAM) prefsList(prefs *xmppcore.Element, name string) ([]string, error) {
	var out []string
	for l := range prefs.Children() {
		if !l.Is(NS, name) {
			continue
		}
		for j := range l.Children() {
			if !j.Is(NS, "jid") {
				continue
			}
			parsed, err := jid.Parse(j.Text())
			if err != nil {
				return nil, xmppcore.NewError(stanza.JIDMalformed, fmt.Sprintf("%s: not a JID: %q", name, j.Text()))
			}
			out = append(out, parsed.String())
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > m.opts.MaxPrefsJIDs {
		return nil, xmppcore.NewError(stanza.PolicyViolation, fmt.Sprintf("at most %d JIDs in %s", m.opts.MaxPrefsJIDs, name))
	}
	return out, nil
}

func prefsElement(p storage.ArchivePrefs) *xmppcore.Element {
	el := xmppcore.New(NS, "prefs", "default", string(p.Default))
	for _, l := range []struct {
		name string
		jids []string
	}{{"always", p.Always}, {"never", p.Never}} {
		list := xmppcore.New(NS, l.name)
		for _, j := range l.jids {
			list.Append(xmppcore.New(NS, "jid").AppendText(j))
		}
		el.Append(list)
	}
	return el
}
