package s2s

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"mellium.im/xmpp/stream"

	"parley.im/parley/xmppcore"
)

// serveIn runs one inbound connection from accept to close.
func (s *Service) serveIn(nc net.Conn, direct bool) {
	c := s.newConn(nc, false)
	if !s.track(c) {
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Now().Add(s.cfg.NegotiationTimeout))
	if direct {
		tc := tls.Server(nc, s.tlsInDT)
		if err := tc.Handshake(); err != nil {
			c.log.Info("TLS handshake failed", "err", err)
			nc.Close()
			s.untrack(c)
			return
		}
		c.setTLS(tc)
	}
	first, err := c.negotiateIn()
	if err != nil {
		c.logFailure(err)
		se, text, _ := errorOf(err)
		c.closeNow(se, text)
		s.untrack(c)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	// A stream must authenticate a domain within the negotiation timeout.
	timer := time.AfterFunc(s.cfg.NegotiationTimeout, func() {
		c.mu.Lock()
		n := len(c.recv)
		c.mu.Unlock()
		if n == 0 {
			c.log.Info("inbound stream not authenticated in time", "to", c.localHost)
			c.close(stream.ConnectionTimeout, "not authenticated in time")
		}
	})
	defer timer.Stop()
	c.armIdle()
	c.startWriter()
	err = nil
	if first != nil {
		c.touch()
		err = c.handle(first)
	}
	if err == nil {
		err = c.readLoop()
	}
	c.finish(err)
}

func (c *conn) logFailure(err error) {
	if se, text, ok := errorOf(err); ok {
		c.log.Warn("inbound stream refused", "condition", se.Err, "reason", errText(err, text), "to", c.localHost, "from", c.remoteHost)
		return
	}
	if errors.Is(err, io.EOF) {
		c.log.Info("inbound stream closed by peer during negotiation", "to", c.localHost)
		return
	}
	c.log.Info("inbound connection lost during negotiation", "err", err)
}

// negotiateIn runs the receiving side up to the first element that is
// not negotiation (returned for handle): stream headers, features,
// STARTTLS, bidi and SASL EXTERNAL.
func (c *conn) negotiateIn() (*xmppcore.Element, error) {
	s := c.svc
	sasl := false
	for {
		c.newReader()
		h, err := c.rd.ReadHeader()
		if err != nil {
			return nil, err
		}
		if c.localHost == "" {
			// The error that follows must come from a sensible name.
			if s.deps.Router.Serves(h.To) {
				c.localHost = h.To
			} else if hs := s.deps.Router.Hosts(); len(hs) > 0 {
				c.localHost = hs[0]
			}
		}
		if h.Name.Space != xmppcore.NSStream || h.Name.Local != "stream" {
			return nil, fail(stream.InvalidNamespace, "the stream root must be stream in %s", xmppcore.NSStream)
		}
		if h.ContentNS != xmppcore.NSServer {
			return nil, fail(stream.InvalidNamespace, "server streams use jabber:server")
		}
		if h.To == "" || !s.deps.Router.Serves(h.To) {
			return nil, fail(stream.HostUnknown, "%q is not served here", h.To)
		}
		if h.To != c.localHost {
			return nil, fail(stream.HostUnknown, "the stream was opened to %s", c.localHost)
		}
		if !strings.HasPrefix(h.Version, "1.") {
			return nil, fail(stream.UnsupportedVersion, "XMPP 1.0 streams only")
		}
		if h.From != "" {
			if !validDomain(h.From) || s.deps.Router.Serves(h.From) {
				return nil, fail(stream.InvalidFrom, "'from' must be the peer's own domain")
			}
			if !s.permitted(h.From) {
				return nil, fail(stream.PolicyViolation, "federation with %s is not permitted", h.From)
			}
			c.remoteHost = h.From
		}
		c.id = newStreamID()
		b := c.header(c.localHost, h.From, c.id)
		c.headerSent = true
		feats := xmppcore.New(xmppcore.NSStream, "features")
		offerExternal := false
		if c.tlsState == nil {
			tlsEl := xmppcore.New(xmppcore.NSTLS, "starttls")
			if s.cfg.RequireTLS {
				tlsEl.Append(xmppcore.New(xmppcore.NSTLS, "required"))
			}
			feats.Append(tlsEl)
		}
		if c.tlsState != nil && !sasl && c.certFor(h.From) {
			offerExternal = true
			feats.Append(xmppcore.New(xmppcore.NSSASL, "mechanisms").Append(
				xmppcore.New(xmppcore.NSSASL, "mechanism").AppendText("EXTERNAL")))
		}
		if (c.tlsState != nil || !s.cfg.RequireTLS) && !s.cfg.RequireCert {
			feats.Append(xmppcore.New(NSDialbackFeature, "dialback").Append(xmppcore.New(NSDialbackFeature, "errors")))
		}
		if !s.cfg.noBidi {
			feats.Append(xmppcore.New(NSBidiFeature, "bidi"))
		}
		b = feats.AppendXML(b, xmppcore.NSServer)
		if err := c.write(b); err != nil {
			return nil, err
		}
	elements:
		for {
			el, err := c.rd.Next()
			if err != nil {
				return nil, err
			}
			switch {
			case el.Is(xmppcore.NSTLS, "starttls") && c.tlsState == nil:
				if err := c.startTLS(); err != nil {
					return nil, err
				}
				break elements
			case el.Is(NSBidi, "bidi"):
				c.bidi.Store(true)
			case el.Is(xmppcore.NSSASL, "auth") && !offerExternal && c.tlsState != nil && !sasl:
				// Not offered: the certificate does not prove the domain.
				// The peer may still use dialback (RFC 6120 §6.4.5).
				c.log.Warn("SASL EXTERNAL refused", "condition", "invalid-mechanism", "reason", "not offered: no certificate valid for the domain", "from", h.From, "to", c.localHost)
				if err := c.writeElement(xmppcore.New(xmppcore.NSSASL, "failure").Append(xmppcore.New(xmppcore.NSSASL, "invalid-mechanism"))); err != nil {
					return nil, err
				}
			case el.Is(xmppcore.NSSASL, "auth") && offerExternal:
				ok, err := c.saslExternal(el, h.From)
				if err != nil {
					return nil, err
				}
				if ok {
					sasl = true
					offerExternal = false
					break elements
				}
			case c.tlsState == nil && s.cfg.RequireTLS && !el.Is(xmppcore.NSStream, "error"):
				return nil, fail(stream.PolicyViolation, "STARTTLS is required")
			default:
				return el, nil
			}
		}
	}
}

func (c *conn) startTLS() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeLocked([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
		return err
	}
	tc := tls.Server(c.nc, c.svc.tlsIn)
	if err := tc.Handshake(); err != nil {
		return errors.New("s2s: TLS handshake: " + err.Error())
	}
	c.setTLS(tc)
	return nil
}

// saslExternal handles <auth mechanism='EXTERNAL'/> (RFC 6120 §6, XEP-0178):
// the certificate must be valid for the authorization identity, which
// must be the stream's 'from' when that was given.
func (c *conn) saslExternal(el *xmppcore.Element, headerFrom string) (bool, error) {
	failure := func(cond, why string) (bool, error) {
		c.log.Warn("SASL EXTERNAL refused", "condition", cond, "reason", why, "from", headerFrom, "to", c.localHost)
		return false, c.writeElement(xmppcore.New(xmppcore.NSSASL, "failure").Append(xmppcore.New(xmppcore.NSSASL, cond)))
	}
	if el.Attr("mechanism") != "EXTERNAL" {
		return failure("invalid-mechanism", "only EXTERNAL is offered")
	}
	authz := headerFrom
	if t := strings.TrimSpace(el.Text()); t != "" && t != "=" {
		b, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			return failure("incorrect-encoding", "bad base64")
		}
		authz = string(b)
	}
	switch {
	case authz == "" || c.svc.deps.Router.Serves(authz):
		return failure("invalid-authzid", "no identity, or one of this server's domains")
	case headerFrom != "" && authz != headerFrom:
		return failure("invalid-authzid", "identity differs from the stream's 'from'")
	case !c.svc.permitted(authz):
		return failure("not-authorized", "federation not permitted")
	case !c.certFor(authz):
		return failure("not-authorized", "certificate not valid for the domain")
	}
	if err := c.svc.acquire(c, authz); err != nil {
		return false, err
	}
	if err := c.writeElement(xmppcore.New(xmppcore.NSSASL, "success")); err != nil {
		return false, err
	}
	c.allowRecv(authz, c.localHost)
	if c.bidi.Load() {
		c.allowSend(c.localHost, authz)
	}
	c.log.Info("inbound stream authenticated by certificate", "from", authz, "to", c.localHost)
	return true, nil
}
