package pubsub

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/xmppcore"
)

// capsRef is the XEP-0115 <c/> of a presence.
type capsRef struct {
	hash, node, ver string
}

// key names the verification string in the cache.
func (c capsRef) key() string { return c.hash + " " + c.ver }

// capsOf returns the caps a presence carries. Presence without <c/>, or
// with a legacy one (no 'hash', XEP-0115 §5.4 says to ignore it), has
// none.
func capsOf(pres *xmppcore.Element) (capsRef, bool) {
	if pres == nil {
		return capsRef{}, false
	}
	c := pres.Child(NSCaps, "c")
	if c == nil {
		return capsRef{}, false
	}
	ref := capsRef{hash: c.Attr("hash"), node: c.Attr("node"), ver: c.Attr("ver")}
	if ref.hash == "" || ref.ver == "" {
		return capsRef{}, false
	}
	return ref, true
}

// hashFunc returns the hash function of an IANA hash name, or nil.
func hashFunc(name string) func() hash.Hash {
	switch name {
	case "sha-1":
		return sha1.New
	case "sha-256":
		return sha256.New
	case "sha-512":
		return sha512.New
	}
	return nil
}

var errIllFormed = errors.New("ill-formed disco#info for caps")

// verString computes the verification string of a disco#info answer by
// the method of XEP-0115 §5.1, after the checks of §5.4 step 3 (duplicate
// identities, features or forms make the answer ill-formed; a form without
// a hidden FORM_TYPE is left out). It also returns the features.
func verString(query *xmppcore.Element, h func() hash.Hash) (string, []string, error) {
	var ids, feats []string
	type field struct{ v, s string } // var, and "var<value<value<"
	type formData struct {
		formType string
		fields   []field
	}
	var forms []formData
	for el := range query.Children() {
		switch {
		case el.Is(NSDiscoInfo, "identity"):
			lang, _ := el.LookupAttr(xmppcore.NSXML, "lang")
			// NUL, which XML cannot carry, separates the parts so that
			// sorting the strings sorts by category, type, lang and name.
			ids = append(ids, el.Attr("category")+"\x00"+el.Attr("type")+"\x00"+lang+"\x00"+el.Attr("name"))
		case el.Is(NSDiscoInfo, "feature"):
			feats = append(feats, el.Attr("var"))
		case el.Is(NSData, "x"):
			var fd formData
			hidden, typed := false, false
			for f := range el.Children() {
				if !f.Is(NSData, "field") {
					continue
				}
				var values []string
				for v := range f.Children() {
					if v.Is(NSData, "value") {
						values = append(values, v.Text())
					}
				}
				if f.Attr("var") == "FORM_TYPE" {
					slices.Sort(values)
					values = slices.Compact(values)
					if typed || len(values) != 1 {
						return "", nil, errIllFormed
					}
					typed, hidden, fd.formType = true, f.Attr("type") == "hidden", values[0]
					continue
				}
				slices.Sort(values)
				var b strings.Builder
				b.WriteString(f.Attr("var"))
				b.WriteByte('<')
				for _, v := range values {
					b.WriteString(v)
					b.WriteByte('<')
				}
				fd.fields = append(fd.fields, field{f.Attr("var"), b.String()})
			}
			if typed && hidden {
				forms = append(forms, fd)
			}
		}
	}
	slices.Sort(ids)
	slices.Sort(feats)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) || len(slices.Compact(slices.Clone(feats))) != len(feats) {
		return "", nil, errIllFormed
	}
	slices.SortFunc(forms, func(a, b formData) int { return strings.Compare(a.formType, b.formType) })
	for i := 1; i < len(forms); i++ {
		if forms[i].formType == forms[i-1].formType {
			return "", nil, errIllFormed
		}
	}
	var s strings.Builder
	for _, id := range ids {
		s.WriteString(strings.ReplaceAll(id, "\x00", "/"))
		s.WriteByte('<')
	}
	for _, f := range feats {
		s.WriteString(f)
		s.WriteByte('<')
	}
	for _, fd := range forms {
		s.WriteString(fd.formType)
		s.WriteByte('<')
		slices.SortFunc(fd.fields, func(a, b field) int { return strings.Compare(a.v, b.v) })
		for _, f := range fd.fields {
			s.WriteString(f.s)
		}
	}
	d := h()
	d.Write([]byte(s.String()))
	return base64.StdEncoding.EncodeToString(d.Sum(nil)), feats, nil
}

// featureSet is the features of an entity.
type featureSet map[string]struct{}

func (fs featureSet) has(f string) bool {
	_, ok := fs[f]
	return ok
}

// How long a caps query may go unanswered, and how many may be out at
// once.
const (
	capsQueryTimeout = time.Minute
	maxPendingCaps   = 1024
	maxFailedCaps    = 4096
)

// capsQuery is a disco#info query sent to learn what a verification
// string stands for.
type capsQuery struct {
	from   jid.JID // the bare JID that asked
	target jid.JID // the full JID asked
	ref    capsRef
	sent   time.Time
}

// waiter is a resource whose initial presence carried a verification
// string not known yet: its last items are sent once it is.
type waiter struct {
	from jid.JID // the local bare JID to ask from
	full jid.JID
	ref  capsRef
}

// capsCache remembers verified verification strings (XEP-0115 §5.4: a
// valid one is cached for every JID), the features of JIDs whose hash
// function is not supported (cached for that JID only), the queries out,
// and the (JID, string) pairs that failed, so that they are not asked
// again.
type capsCache struct {
	mu      sync.Mutex
	max     int
	known   map[string]featureSet // by capsRef.key
	order   []string              // keys of known, oldest first
	byJID   map[string]featureSet // by full JID, unsupported hashes
	pending map[string]*capsQuery // by IQ id
	asking  map[string]string     // capsRef.key (or JID for byJID) -> IQ id
	failed  map[string]bool       // full JID + " " + key
	waiting map[string][]waiter   // capsRef.key -> initial presences waiting
	now     func() time.Time
}

func newCapsCache(max int) *capsCache {
	return &capsCache{max: max, known: map[string]featureSet{}, byJID: map[string]featureSet{},
		pending: map[string]*capsQuery{}, asking: map[string]string{}, failed: map[string]bool{},
		waiting: map[string][]waiter{}, now: time.Now}
}

// features returns what the caps of full stand for, and whether that is
// known.
func (c *capsCache) features(full jid.JID, ref capsRef) (featureSet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if hashFunc(ref.hash) == nil {
		fs, ok := c.byJID[full.String()]
		return fs, ok
	}
	fs, ok := c.known[ref.key()]
	return fs, ok
}

// askKey is what a query is shared by: the verification string for a
// supported hash, the JID for the others.
func askKey(full jid.JID, ref capsRef) string {
	if hashFunc(ref.hash) == nil {
		return "jid " + full.String()
	}
	return ref.key()
}

// request notes that full, a resource of from's or a contact of from's,
// advertises ref, not known yet. It returns the id of a disco#info query
// to send from 'from', or "" when one is already out for the same string
// or full already failed to answer it. With initial, full waits for the
// answer to get its last items.
func (c *capsCache) request(from, full jid.JID, ref capsRef, initial bool) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire()
	key := askKey(full, ref)
	if initial {
		c.waiting[key] = append(slices.DeleteFunc(c.waiting[key], func(w waiter) bool { return w.full.Equal(full) }),
			waiter{from, full, ref})
	}
	if c.failed[full.String()+" "+key] {
		return ""
	}
	if _, out := c.asking[key]; out {
		return ""
	}
	if len(c.pending) >= maxPendingCaps {
		return ""
	}
	id := "caps-" + newID()
	c.pending[id] = &capsQuery{from: from, target: full, ref: ref, sent: c.now()}
	c.asking[key] = id
	return id
}

// expire forgets queries that went unanswered too long, as failures.
func (c *capsCache) expire() {
	now := c.now()
	for id, q := range c.pending {
		if now.Sub(q.sent) > capsQueryTimeout {
			c.failLocked(id, q)
		}
	}
}

func (c *capsCache) failLocked(id string, q *capsQuery) {
	key := askKey(q.target, q.ref)
	delete(c.pending, id)
	delete(c.asking, key)
	if len(c.failed) >= maxFailedCaps {
		clear(c.failed)
	}
	c.failed[q.target.String()+" "+key] = true
}

// take removes and returns the query that an answer from 'from' with this
// id answers, if any; answered must follow.
func (c *capsCache) take(id string, from jid.JID) (*capsQuery, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, ok := c.pending[id]
	if !ok || !q.target.Equal(from) {
		return nil, false
	}
	delete(c.pending, id)
	return q, true
}

// answered records a query's outcome: the features when the answer was
// valid, nil when it was not. It returns the waiters to serve (valid) or
// another waiter to ask instead (invalid: XEP-0115 §5.4 says to check with
// another entity advertising the same string), with a new query id.
func (c *capsCache) answered(id string, q *capsQuery, fs featureSet) (served []waiter, retry *waiter, retryID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := askKey(q.target, q.ref)
	if fs == nil {
		c.failLocked(id, q)
		ws := c.waiting[key]
		for _, w := range ws {
			if !c.failed[w.full.String()+" "+key] && hashFunc(q.ref.hash) != nil {
				retryID = "caps-" + newID()
				nq := &capsQuery{from: w.from, target: w.full, ref: w.ref, sent: c.now()}
				c.pending[retryID] = nq
				c.asking[key] = retryID
				return nil, &w, retryID
			}
		}
		delete(c.waiting, key)
		return nil, nil, ""
	}
	delete(c.pending, id)
	delete(c.asking, key)
	if hashFunc(q.ref.hash) == nil {
		c.byJID[q.target.String()] = fs
	} else {
		if _, ok := c.known[key]; !ok {
			if len(c.order) >= c.max {
				delete(c.known, c.order[0])
				c.order = c.order[1:]
			}
			c.order = append(c.order, key)
		}
		c.known[key] = fs
	}
	served = c.waiting[key]
	delete(c.waiting, key)
	return served, nil, ""
}

// forget drops what is kept for a full JID that went away.
func (c *capsCache) forget(full jid.JID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := full.String()
	delete(c.byJID, s)
	for key, ws := range c.waiting {
		ws = slices.DeleteFunc(ws, func(w waiter) bool { return w.full.Equal(full) })
		if len(ws) == 0 {
			delete(c.waiting, key)
		} else {
			c.waiting[key] = ws
		}
	}
	for k := range c.failed {
		if strings.HasPrefix(k, s+" ") {
			delete(c.failed, k)
		}
	}
}
