package c2s

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// bind2InlineFeatures lists what Bind2 can enable inline, sorted.
func (c *conn) bind2InlineFeatures() []string {
	var vars []string
	if c.srv.cfg.SASL2.Carbons {
		vars = append(vars, nsCarbons)
	}
	// Client state indication (csiSet, csi.go) and stream management
	// (smEnable, sm.go).
	return append(vars, nsCSI, nsSM)
}

// processResourceKey keys stable resources when no FakeSaltKey is
// configured: stable within the process only.
var processResourceKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// bind2Resource makes the resource XEP-0386 §Resource identifier
// generation describes: "tag/id". id is stable for one account, user-agent
// id and tag (an HMAC under the server's secret, so the user-agent id
// cannot be read back from it), random without a user-agent id. A tag that
// is too long or not a valid resourcepart is left out.
func (c *conn) bind2Resource(agentID, tag string) string {
	var id string
	if agentID == "" {
		var b [10]byte
		_, _ = rand.Read(b[:])
		id = lowerBase32.EncodeToString(b[:])
	} else {
		key := c.srv.cfg.FakeSaltKey
		if len(key) == 0 {
			key = processResourceKey
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte("parley bind2 resource\x00" + c.host + "\x00" + c.user + "\x00" + agentID + "\x00" + tag))
		id = lowerBase32.EncodeToString(m.Sum(nil)[:10])
	}
	tag = strings.TrimSpace(tag)
	if tag == "" || len(tag) > maxBindTag {
		return id
	}
	if _, err := jid.New(c.user, c.host, tag+"/"+id); err != nil {
		return id
	}
	return tag + "/" + id
}

// bind2 binds the resource, enables the inline features and returns
// <bound/>. A failure to bind (too many sessions) fails the whole
// authentication: the client then knows nothing was set up.
func (c *conn) bind2(ctx context.Context, log interface{ Info(string, ...any) }, req *sasl2Request) (*xmppcore.Element, *auth.Failure) {
	var tag string
	for ch := range req.bind.Children() {
		if ch.Is(nsBind2, "tag") {
			tag = ch.Text()
		}
	}
	full, err := jid.New(c.user, c.host, c.bind2Resource(req.agentID, tag))
	if err != nil {
		return nil, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Text: "cannot bind a resource", Err: err}
	}
	c.jid = full
	carbons := c.srv.cfg.SASL2.Carbons && req.bind.Child(nsCarbons, "enable") != nil
	if carbons {
		c.inlineCarbons(ctx, log, "enable")
	}
	metadata := c.archiveMetadata(ctx)
	c.out = newOutQueue(c.srv.cfg.QueueSize)
	replaced, err := c.srv.deps.Router.Bind(c)
	if errors.Is(err, router.ErrConflict) && req.agentID != "" {
		// The resource is derived from the client's user-agent id: the
		// session holding it is an earlier one of the same client, which
		// XEP-0386 says to end.
		if old, ok := c.srv.deps.Router.Session(full); ok {
			c.srv.deps.Router.SessionEnded(ctx, old)
			old.Close(stream.Conflict, "replaced by a new session of the same client")
		}
		replaced, err = c.srv.deps.Router.Bind(c)
	}
	if err != nil {
		if carbons {
			c.inlineCarbons(ctx, log, "disable")
		}
		c.jid, c.out = jid.JID{}, nil
		if errors.Is(err, router.ErrTooManySessions) {
			return nil, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Text: "too many sessions for this account", Err: err}
		}
		return nil, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Text: "cannot bind a resource", Err: err}
	}
	if replaced != nil {
		replaced.Close(stream.Conflict, "replaced by a new session with the same resource")
	}
	bound := xmppcore.New(nsBind2, "bound")
	if metadata != nil {
		bound.Append(metadata) // XEP-0386: the archive as it was at bind
	}
	c.bind2Enable(ctx, req.bind, bound)
	return bound, nil
}

// inlineCarbons turns carbons on (or back off) for this session by routing
// the XEP-0280 IQ the client would have sent, from its full JID with the
// session as origin, so the carbons module (which c2s may not import)
// handles it exactly as if the client had sent it. XEP-0386 defines no
// answer.
func (c *conn) inlineCarbons(ctx context.Context, log interface{ Info(string, ...any) }, op string) {
	reply := c.inlineIQ(ctx, "set", c.jid.Domain(), xmppcore.New(nsCarbons, op))
	if reply == nil || reply.Attr("type") != "result" {
		log.Info("inline carbons failed", "op", op)
	}
}

// archiveMetadata asks the archive module, as the client would (XEP-0313
// §6), for the first and last entries of the user's archive, for
// <bound/>; nil when there is no archive (no such module, or an error).
func (c *conn) archiveMetadata(ctx context.Context) *xmppcore.Element {
	reply := c.inlineIQ(ctx, "get", c.jid.Bare(), xmppcore.New(nsMAM, "metadata"))
	if reply == nil || reply.Attr("type") != "result" {
		return nil
	}
	return reply.Child(nsMAM, "metadata")
}

// inlineIQ routes an IQ from this session, not yet bound, to a module and
// returns the module's answer, taken off a queue of its own so that it is
// never written. Only the session's own modules answer at once, during
// Route; nothing else can queue for a session that is not bound.
func (c *conn) inlineIQ(ctx context.Context, typ string, to jid.JID, payload *xmppcore.Element) *xmppcore.Element {
	saved := c.out
	c.out = newOutQueue(4)
	defer func() { c.out = saved }()
	iq := xmppcore.New("", xmppcore.IQ, "type", typ, "id", "bind2-"+randomID(),
		"from", c.jid.String(), "to", to.String()).Append(payload)
	c.srv.deps.Router.Route(ctx, &router.Stanza{El: iq, From: c.jid, To: to, Origin: c})
	return c.out.pop()
}

// bind2Enable enables what the <bind/> request asks for, after the bind,
// and adds the answers that have one to <bound/>.
func (c *conn) bind2Enable(_ context.Context, req, bound *xmppcore.Element) {
	if en := req.Child(nsSM, "enable"); en != nil {
		// XEP-0386: the <enabled/> (or <failed/>) goes in <bound/>; the
		// count of stanzas starts now, before the session's first.
		bound.Append(c.smEnable(en))
	}
	// XEP-0352: the session begins in the state asked for (active by
	// default); no answer.
	switch {
	case req.Child(nsCSI, "inactive") != nil:
		c.csiSet(false)
	case req.Child(nsCSI, "active") != nil:
		c.csiSet(true)
	}
}

// sasl2Resume handles an inline XEP-0198 <resume/>: the element for
// <success/> and whether the session was resumed.
func (c *conn) sasl2Resume(ctx context.Context, resume *xmppcore.Element) (*xmppcore.Element, bool, error) {
	reply, err := c.smResume(ctx, resume)
	if err != nil {
		return nil, false, err
	}
	return reply, c.resumeTarget != nil, nil
}
