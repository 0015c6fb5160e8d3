package s2s

import (
	"context"
	"fmt"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/xmppcore"
)

func validDomain(d string) bool {
	j, err := jid.Parse(d)
	return err == nil && j.Localpart() == "" && j.Resourcepart() == "" && j.Domainpart() == d
}

// dialbackRequest handles <db:result from=X to=Y>key</db:result>: the
// peer asks to send from X to Y (XEP-0220 §2.1.2).
func (c *conn) dialbackRequest(el *xmppcore.Element) error {
	s := c.svc
	from, to, key := el.Attr("from"), el.Attr("to"), el.Text()
	if c.outbound && !c.bidi.Load() {
		return fail(stream.UnsupportedStanzaType, "dialback requests go on streams you initiate")
	}
	if !validDomain(from) {
		return fail(stream.InvalidFrom, "dialback 'from' is not a domain")
	}
	if s.deps.Router.Serves(from) {
		return fail(stream.InvalidFrom, "%s is served here", from)
	}
	if !s.deps.Router.Serves(to) {
		return fail(stream.HostUnknown, "%s is not served here", to)
	}
	if !s.permitted(from) {
		c.log.Warn("dialback from a domain federation does not accept", "from", from, "to", to)
		return fail(stream.PolicyViolation, "federation with %s is not permitted", from)
	}
	if c.tlsState == nil && s.cfg.RequireTLS {
		return fail(stream.PolicyViolation, "TLS is required")
	}
	p := pair{from, to}
	c.mu.Lock()
	if c.recv[p] || c.verifying[p] {
		c.mu.Unlock()
		return nil // already done or under way
	}
	c.verifying[p] = true
	c.mu.Unlock()
	if c.certFor(from) {
		// The certificate proves the domain: no need to call back
		// (XEP-0220 §2.4.1, as XEP-0344 describes).
		c.log.Info("dialback accepted on a valid certificate", "from", from, "to", to)
		return c.dialbackDone(from, to, "valid")
	}
	if s.cfg.RequireCert {
		c.log.Warn("dialback refused: a valid certificate is required", "from", from, "to", to)
		c.send(xmppcore.New(NSDialback, "result", "from", to, "to", from, "type", "invalid"))
		return fail(stream.NotAuthorized, "a certificate valid for %s is required", from)
	}
	id := c.id
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.NegotiationTimeout)
		defer cancel()
		ok, err := s.verifyKey(ctx, to, from, id, key)
		switch {
		case err != nil:
			c.log.Warn("dialback verification failed", "from", from, "to", to, "err", err)
			res := xmppcore.New(NSDialback, "result", "from", to, "to", from, "type", "error")
			res.Append(xmppcore.New("", "error", "type", "cancel").Append(xmppcore.New(xmppcore.NSStanzas, "remote-server-not-found")))
			c.send(res)
			c.mu.Lock()
			delete(c.verifying, p)
			c.mu.Unlock()
		case !ok:
			c.log.Warn("dialback key did not verify", "from", from, "to", to)
			c.send(xmppcore.New(NSDialback, "result", "from", to, "to", from, "type", "invalid"))
			c.close(stream.NotAuthorized, "the dialback key for "+from+" did not verify")
		default:
			if err := c.dialbackDone(from, to, "valid"); err != nil {
				se, text, _ := errorOf(err)
				c.log.Warn("stream closed with error", "condition", se.Err, "reason", text, "from", from, "to", to)
				c.close(se, text)
			}
		}
	}()
	return nil
}

// dialbackDone records a verified pair and tells the peer.
func (c *conn) dialbackDone(from, to, typ string) error {
	if err := c.svc.acquire(c, from); err != nil {
		return err
	}
	c.mu.Lock()
	c.recv[pair{from, to}] = true
	delete(c.verifying, pair{from, to})
	c.mu.Unlock()
	if c.bidi.Load() {
		c.allowSend(to, from)
	}
	c.log.Info("inbound domain authenticated by dialback", "from", from, "to", to)
	c.send(xmppcore.New(NSDialback, "result", "from", to, "to", from, "type", typ))
	return nil
}

// dialbackAnswer handles the answer to a piggybacked request.
func (c *conn) dialbackAnswer(el *xmppcore.Element) error {
	local, remote := el.Attr("to"), el.Attr("from")
	if c.link == nil || remote != c.remoteHost {
		c.log.Info("unexpected dialback answer", "from", remote, "to", local)
		return nil
	}
	if el.Attr("type") == "valid" {
		c.allowSend(local, remote)
		if c.bidi.Load() {
			c.allowRecv(remote, local)
		}
		c.log.Info("additional domain authenticated", "from", local, "to", remote)
		c.link.authenticated(c, local)
		return nil
	}
	c.log.Warn("additional domain refused", "from", local, "to", remote, "answer", el.String())
	c.link.authFailed(local, "remote-server-not-found")
	return nil
}

// verifyRequest answers <db:verify/> as the authoritative server.
func (c *conn) verifyRequest(el *xmppcore.Element) error {
	s := c.svc
	from, to, id, key := el.Attr("from"), el.Attr("to"), el.Attr("id"), el.Text()
	if !s.deps.Router.Serves(to) {
		return fail(stream.HostUnknown, "%s is not served here", to)
	}
	typ := "invalid"
	if s.checkKey(from, to, id, key) {
		typ = "valid"
	}
	c.log.Info("answered a dialback verification", "asker", from, "domain", to, "result", typ)
	ans := xmppcore.New(NSDialback, "verify", "from", to, "to", from, "id", id, "type", typ)
	if !c.send(ans) {
		return fail(stream.ResourceConstraint, "output queue full")
	}
	return nil
}

// verifyKey asks the authoritative server of originating whether key is
// the one it issued for a stream with id to receiving (XEP-0220 §2.3).
func (s *Service) verifyKey(ctx context.Context, receiving, originating, id, key string) (bool, error) {
	c, err := s.connectOut(ctx, originating, receiving, modeVerify)
	if err != nil {
		return false, err
	}
	defer s.untrack(c)
	defer c.closeNow(stream.Error{}, "")
	v := xmppcore.New(NSDialback, "verify", "from", receiving, "to", originating, "id", id)
	v.AppendText(key)
	if err := c.writeElement(v); err != nil {
		return false, err
	}
	for {
		el, err := c.rd.Next()
		if err != nil {
			return false, err
		}
		if el.Is(NSDialback, "verify") && el.Attr("type") != "" {
			if el.Attr("id") != id {
				return false, fmt.Errorf("s2s: verification answer for another stream id")
			}
			return el.Attr("type") == "valid", nil
		}
		if el.Is(xmppcore.NSStream, "error") {
			return false, fmt.Errorf("s2s: stream error from the authoritative server: %s", el)
		}
	}
}

// acquire counts an authenticated inbound stream against its remote
// domain's limit (once per stream).
func (s *Service) acquire(c *conn, domain string) error {
	if c.outbound {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.counted != "" {
		return nil
	}
	if s.inbound[domain] >= s.cfg.MaxConnections {
		return fail(stream.PolicyViolation, "too many streams from %s", domain)
	}
	s.inbound[domain]++
	c.counted = domain
	return nil
}

func (s *Service) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.counted != "" {
		if s.inbound[c.counted]--; s.inbound[c.counted] <= 0 {
			delete(s.inbound, c.counted)
		}
		c.counted = ""
	}
}
