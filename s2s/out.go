package s2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"mellium.im/xmpp/stream"

	"parley.im/parley/xmppcore"
)

type outMode int

const (
	modeStanzas outMode = iota // authenticate, then carry stanzas
	modeVerify                 // stop after TLS: for a db:verify
)

// connectOut opens and negotiates a stream from local to remote, trying
// each target in turn.
func (s *Service) connectOut(ctx context.Context, remote, local string, mode outMode) (*conn, error) {
	if !s.permitted(remote) {
		return nil, errNotPermitted
	}
	targets := s.resolve(ctx, remote)
	if len(targets) == 0 {
		return nil, fmt.Errorf("s2s: %s publishes no server-to-server service", remote)
	}
	var lastErr error
	for _, t := range targets {
		c, err := s.tryTarget(ctx, t, remote, local, mode)
		if err == nil {
			return c, nil
		}
		s.log.Debug("target failed", "to", remote, "addr", t.Addr, "direct_tls", t.DirectTLS, "err", err)
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func (s *Service) tryTarget(ctx context.Context, t Target, remote, local string, mode outMode) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	nc, err := s.deps.Dial(dctx, "tcp", t.Addr)
	cancel()
	if err != nil {
		return nil, err
	}
	c := s.newConn(nc, true)
	if !s.track(c) {
		nc.Close()
		return nil, errShuttingDown
	}
	c.localHost, c.remoteHost = local, remote
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	if t.DirectTLS {
		if err := c.clientTLS(true); err != nil {
			s.untrack(c)
			nc.Close()
			return nil, err
		}
	}
	if err := c.negotiateOut(mode); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		if se, text, ok := errorOf(err); ok {
			c.closeNow(se, text)
		} else {
			nc.Close()
		}
		s.untrack(c)
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *conn) clientTLS(direct bool) error {
	s := c.svc
	local := c.localHost
	cfg := &tls.Config{
		ServerName: c.remoteHost,
		MinVersion: tls.VersionTLS12,
		// The chain and the name are checked after the handshake, so that
		// a self-signed peer can still be authenticated by dialback.
		InsecureSkipVerify: true, //nolint:gosec // verified in verifyChain/nameOK
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if s.deps.Certs == nil {
				return &tls.Certificate{}, nil
			}
			if cert, err := s.deps.Certs.Certificate(local); err == nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil
		},
	}
	if direct {
		cfg.NextProtos = []string{"xmpp-server"}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("s2s: TLS handshake with %s: %w", c.remoteHost, err)
	}
	c.setTLS(tc)
	return nil
}

// negotiateOut runs the initiating side: TLS, bidi, then SASL EXTERNAL or
// dialback (modeStanzas), or just TLS (modeVerify).
func (c *conn) negotiateOut(mode outMode) error {
	s := c.svc
	local, remote := c.localHost, c.remoteHost
	saslDone := false
	for {
		if err := c.write(c.header(local, remote, "")); err != nil {
			return err
		}
		c.headerSent = true
		c.newReader()
		h, err := c.rd.ReadHeader()
		if err != nil {
			return err
		}
		if h.Name.Space != xmppcore.NSStream || h.Name.Local != "stream" || h.ContentNS != xmppcore.NSServer {
			return fail(stream.InvalidNamespace, "expected a jabber:server stream")
		}
		c.id = h.ID
		feats, err := c.rd.Next()
		if err != nil {
			return err
		}
		if err := peerStreamError(remote, feats); err != nil {
			return err
		}
		if !feats.Is(xmppcore.NSStream, "features") {
			return fail(stream.UnsupportedVersion, "no stream features: XMPP 1.0 is required")
		}
		if c.tlsState == nil {
			if feats.Child(xmppcore.NSTLS, "starttls") != nil {
				if err := c.writeElement(xmppcore.New(xmppcore.NSTLS, "starttls")); err != nil {
					return err
				}
				el, err := c.rd.Next()
				if err != nil {
					return err
				}
				if err := peerStreamError(remote, el); err != nil {
					return err
				}
				if !el.Is(xmppcore.NSTLS, "proceed") {
					return errors.New("s2s: STARTTLS refused by " + remote)
				}
				if err := c.clientTLS(false); err != nil {
					return err
				}
				continue
			}
			if s.cfg.RequireTLS {
				return fail(stream.PolicyViolation, "TLS is required")
			}
		}
		if mode == modeVerify {
			return nil
		}
		if saslDone {
			c.finishOut()
			return nil
		}
		if s.cfg.RequireCert && !c.certFor(remote) {
			return fail(stream.PolicyViolation, "your certificate is not valid for %s", remote)
		}
		if feats.Child(NSBidiFeature, "bidi") != nil && !c.bidi.Load() && !s.cfg.noBidi {
			if err := c.writeElement(xmppcore.New(NSBidi, "bidi")); err != nil {
				return err
			}
			c.bidi.Store(true)
		}
		if hasMechanism(feats, "EXTERNAL") && c.tlsState != nil {
			ok, err := c.authExternal(local)
			if err != nil {
				return err
			}
			if ok {
				saslDone = true
				continue
			}
			c.log.Info("SASL EXTERNAL refused, trying dialback", "to", remote, "from", local)
		}
		if s.cfg.RequireCert {
			return fail(stream.NotAuthorized, "certificate authentication failed and dialback is not allowed here")
		}
		if err := c.dialbackOut(local); err != nil {
			return err
		}
		c.finishOut()
		return nil
	}
}

// finishOut marks the stream authenticated for local → remote.
func (c *conn) finishOut() {
	c.allowSend(c.localHost, c.remoteHost)
	if c.bidi.Load() {
		// XEP-0288: the receiving server may now send from its domain to
		// ours on this stream.
		c.allowRecv(c.remoteHost, c.localHost)
	}
	c.log.Info("outbound stream authenticated", "local", c.localHost, "remote", c.remoteHost, "tls", c.tlsState != nil, "bidi", c.bidi.Load())
}

func hasMechanism(feats *xmppcore.Element, name string) bool {
	m := feats.Child(xmppcore.NSSASL, "mechanisms")
	if m == nil {
		return false
	}
	for ch := range m.Children() {
		if ch.Is(xmppcore.NSSASL, "mechanism") && ch.Text() == name {
			return true
		}
	}
	return false
}

func (c *conn) authExternal(local string) (bool, error) {
	auth := xmppcore.New(xmppcore.NSSASL, "auth", "mechanism", "EXTERNAL")
	auth.AppendText(base64.StdEncoding.EncodeToString([]byte(local)))
	if err := c.writeElement(auth); err != nil {
		return false, err
	}
	el, err := c.rd.Next()
	if err != nil {
		return false, err
	}
	if err := peerStreamError(c.remoteHost, el); err != nil {
		return false, err
	}
	switch {
	case el.Is(xmppcore.NSSASL, "success"):
		return true, nil
	case el.Is(xmppcore.NSSASL, "failure"):
		return false, nil
	}
	return false, fail(stream.UnsupportedStanzaType, "expected a SASL outcome")
}

// dialbackOut asks the receiving server to verify our key (XEP-0220 §2.1)
// and waits for its answer.
func (c *conn) dialbackOut(local string) error {
	if err := c.writeElement(c.dialbackResult(local)); err != nil {
		return err
	}
	for {
		el, err := c.rd.Next()
		if err != nil {
			return err
		}
		if err := peerStreamError(c.remoteHost, el); err != nil {
			return err
		}
		if !el.Is(NSDialback, "result") || el.Attr("type") == "" {
			return fail(stream.UnsupportedStanzaType, "expected a dialback result")
		}
		switch el.Attr("type") {
		case "valid":
			return nil
		case "invalid":
			return errors.New("s2s: " + c.remoteHost + " found our dialback key invalid")
		default:
			return fmt.Errorf("s2s: dialback error from %s: %s", c.remoteHost, el)
		}
	}
}

func (c *conn) dialbackResult(local string) *xmppcore.Element {
	el := xmppcore.New(NSDialback, "result", "from", local, "to", c.remoteHost)
	el.AppendText(c.svc.dialbackKey(c.remoteHost, local, c.id))
	return el
}

// requestDialback piggybacks another local domain on an authenticated
// outbound stream (XEP-0220 §2.5 multiplexing); the answer comes through
// dialbackAnswer.
func (c *conn) requestDialback(local string) bool {
	c.log.Info("dialback for an additional domain", "from", local)
	return c.send(c.dialbackResult(local))
}

// peerStreamError turns a <stream:error/> from the peer into an error (no
// stream error is sent back: the peer is closing).
func peerStreamError(remote string, el *xmppcore.Element) error {
	if !el.Is(xmppcore.NSStream, "error") {
		return nil
	}
	cond := ""
	if f := el.FirstChild(); f != nil {
		cond = f.Local
	}
	return fmt.Errorf("s2s: %s sent the stream error %s: %s", remote, cond, el.ChildText(xmppcore.NSStreams, "text"))
}
