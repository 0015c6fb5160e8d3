package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/xmppcore"
)

// TLSMode is how a connection is secured.
type TLSMode string

// The TLS modes of -tls.
const (
	Plaintext TLSMode = "plaintext" // no TLS at all (a server allowing SASL without TLS)
	StartTLS  TLSMode = "starttls"  // RFC 6120 STARTTLS on the plain port
	DirectTLS TLSMode = "direct"    // XEP-0368 TLS from the first byte, ALPN xmpp-client
)

// ClientConfig is how every session logs in.
type ClientConfig struct {
	Domain       string
	TLS          TLSMode
	TLSConfig    *tls.Config // ServerName and verification settings; cloned per use
	Mech         string
	Password     string
	Resource     string // "" lets the server choose
	Presence     bool   // send initial presence after bind
	LoginTimeout time.Duration
	Cache        *keyCache // nil: mellium's SCRAM, one PBKDF2 per login
	MaxStanza    int
}

// Phases are the durations of the parts of one login.
type Phases struct {
	Connect time.Duration // TCP connect
	TLS     time.Duration // STARTTLS or direct TLS, including the stream before it
	Auth    time.Duration // stream header and features, then SASL to <success/>
	Bind    time.Duration // stream restart, bind, (session), initial presence
	Total   time.Duration
}

// LoginError is a failed login, with a short kind for counting.
type LoginError struct {
	Kind string
	Err  error
}

func (e *LoginError) Error() string { return e.Kind + ": " + e.Err.Error() }
func (e *LoginError) Unwrap() error { return e.Err }

func failf(kind, format string, args ...any) error {
	return &LoginError{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// errKind classifies an error for the report.
func errKind(phase string, err error) string {
	var le *LoginError
	if errors.As(err, &le) {
		return le.Kind
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return phase + ":timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return phase + ":closed"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return phase + ":timeout"
	case errors.Is(err, context.Canceled):
		return phase + ":canceled"
	}
	if se, ok := xmppcore.AsStreamError(err); ok {
		return phase + ":stream:" + se.Err
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "connection reset"):
		return phase + ":reset"
	case strings.Contains(s, "connection refused"):
		return phase + ":refused"
	case strings.Contains(s, "cannot assign requested address"):
		return phase + ":no-source-port"
	case strings.Contains(s, "too many open files"):
		return phase + ":too-many-open-files"
	}
	return phase + ":other"
}

// Session is one logged-in client stream.
type Session struct {
	ID  int    // index of the account
	JID string // the bound full JID

	nc net.Conn // TCP
	c  net.Conn // TCP or TLS over it
	br *xmppcore.ByteReader
	rd *xmppcore.Reader
	// Mech is the SASL mechanism used (the first of ClientConfig.Mech's
	// list that the server offered).
	Mech string
	wmu  sync.Mutex
	cfg  *ClientConfig

	closing bool // under wmu
}

const ioTimeout = 10 * time.Second

// Write sends raw XML; it is safe for concurrent use.
func (s *Session) Write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closing {
		return net.ErrClosed
	}
	_ = s.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := s.c.Write(b)
	return err
}

// Close ends the stream and the connection. It does not wait for the
// server's end of the stream.
func (s *Session) Close() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	_ = s.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(s.c, "</stream:stream>")
	_ = s.nc.Close()
}

// Closing reports whether Close was called.
func (s *Session) Closing() bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.closing
}

// Handler gets the stanzas a session receives after login; answering pings
// and IQ requests is done by Serve.
type Handler func(s *Session, el *xmppcore.Element)

// Serve reads until the stream ends, answering XEP-0199 pings and refusing
// other IQ requests as a polite client does. It returns the error that
// ended the stream (io.EOF: the server closed it).
func (s *Session) Serve(h Handler) error {
	for {
		el, err := s.rd.Next()
		if err != nil {
			return err
		}
		if el.Is(xmppcore.NSStream, "error") {
			cond := "undefined"
			for ch := range el.Children() {
				if ch.Space == xmppcore.NSStreams && ch.Local != "text" {
					cond = ch.Local
				}
			}
			return failf("stream-error:"+cond, "stream error %s", cond)
		}
		if el.Local == "iq" && el.Space == "" {
			switch el.Attr("type") {
			case "get", "set":
				s.answerIQ(el)
				continue
			}
		}
		if h != nil {
			h(s, el)
		}
	}
}

func (s *Session) answerIQ(el *xmppcore.Element) {
	reply := xmppcore.New("", "iq", "type", "result", "id", el.Attr("id"))
	if from := el.Attr("from"); from != "" {
		reply.SetAttr("to", from)
	}
	if el.Child("urn:xmpp:ping", "ping") == nil {
		reply.SetAttr("type", "error")
		reply.Append(xmppcore.New("", "error", "type", "cancel").
			Append(xmppcore.New("urn:ietf:params:xml:ns:xmpp-stanzas", "service-unavailable")))
	}
	_ = s.Write(reply.AppendXML(nil, xmppcore.NSClient))
}

// Login opens a session for account user: connect, stream, TLS as
// configured, SASL, bind, and initial presence.
func Login(ctx context.Context, cfg *ClientConfig, d *net.Dialer, addr, user string, id int) (*Session, Phases, error) {
	var ph Phases
	start := time.Now()
	deadline := start.Add(cfg.LoginTimeout)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, ph, &LoginError{Kind: errKind("connect", err), Err: err}
	}
	s := &Session{ID: id, nc: nc, c: nc, cfg: cfg}
	_ = nc.SetDeadline(deadline)
	// Give up when ctx ends mid-login.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	ph.Connect = time.Since(start)
	mark := time.Now()

	if err := s.negotiate(user, &ph, &mark); err != nil {
		nc.Close()
		return nil, ph, err
	}
	_ = nc.SetDeadline(time.Time{})
	ph.Total = time.Since(start)
	return s, ph, nil
}

func (s *Session) negotiate(user string, ph *Phases, mark *time.Time) error {
	lap := func() time.Duration { now := time.Now(); d := now.Sub(*mark); *mark = now; return d }
	cfg := s.cfg
	if cfg.TLS == DirectTLS {
		if err := s.handshake(true); err != nil {
			return err
		}
	}
	features, err := s.openStream("stream")
	if err != nil {
		return err
	}
	if cfg.TLS == StartTLS {
		if features.Child(xmppcore.NSTLS, "starttls") == nil {
			return failf("starttls:not-offered", "the server offers no STARTTLS")
		}
		if err := s.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`); err != nil {
			return wrapKind("starttls", err)
		}
		el, err := s.next("starttls")
		if err != nil {
			return err
		}
		if !el.Is(xmppcore.NSTLS, "proceed") {
			return failf("starttls:refused", "expected <proceed/>, got %s", el.Local)
		}
		if err := s.handshake(false); err != nil {
			return err
		}
		if features, err = s.openStream("stream"); err != nil {
			return err
		}
	}
	if cfg.TLS != Plaintext {
		ph.TLS = lap()
	}
	if err := s.authenticate(user, features); err != nil {
		return err
	}
	ph.Auth = lap()
	if features, err = s.openStream("bind"); err != nil {
		return err
	}
	if err := s.bind(features); err != nil {
		return err
	}
	if cfg.Presence {
		if err := s.send("<presence/>"); err != nil {
			return wrapKind("presence", err)
		}
	}
	ph.Bind = lap()
	return nil
}

func wrapKind(phase string, err error) error {
	var le *LoginError
	if errors.As(err, &le) {
		return err
	}
	return &LoginError{Kind: errKind(phase, err), Err: err}
}

func (s *Session) send(x string) error {
	_, err := io.WriteString(s.c, x)
	return err
}

// next reads one element during negotiation; a stream error is returned as
// a LoginError naming its condition.
func (s *Session) next(phase string) (*xmppcore.Element, error) {
	el, err := s.rd.Next()
	if err != nil {
		return nil, wrapKind(phase, err)
	}
	if el.Is(xmppcore.NSStream, "error") {
		cond := "undefined"
		for ch := range el.Children() {
			if ch.Space == xmppcore.NSStreams && ch.Local != "text" {
				cond = ch.Local
			}
		}
		return nil, failf(phase+":stream-error:"+cond, "stream error %s: %s", cond, el.ChildText(xmppcore.NSStreams, "text"))
	}
	return el, nil
}

// openStream sends a stream header and reads the server's header and
// features, with a fresh parser.
func (s *Session) openStream(phase string) (*xmppcore.Element, error) {
	hdr := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='` +
		xmppcore.EscapeAttr(s.cfg.Domain) + `'>`
	if err := s.send(hdr); err != nil {
		return nil, wrapKind(phase, err)
	}
	s.br = xmppcore.NewByteReader(s.c, 0)
	s.rd = xmppcore.NewReader(s.br, xmppcore.Limits{MaxStanzaSize: s.cfg.MaxStanza})
	if _, err := s.rd.ReadHeader(); err != nil {
		return nil, wrapKind(phase, err)
	}
	el, err := s.next(phase)
	if err != nil {
		return nil, err
	}
	if !el.Is(xmppcore.NSStream, "features") {
		return nil, failf(phase+":no-features", "expected stream features, got %s", el.Local)
	}
	return el, nil
}

func (s *Session) handshake(direct bool) error {
	tc := s.cfg.TLSConfig.Clone()
	if direct {
		tc.NextProtos = []string{"xmpp-client"}
	}
	c := tls.Client(s.nc, tc)
	if err := c.Handshake(); err != nil {
		return &LoginError{Kind: errKind("tls", err), Err: err}
	}
	s.c = c
	return nil
}

func (s *Session) authenticate(user string, features *xmppcore.Element) error {
	var offered []string
	if m := features.Child(xmppcore.NSSASL, "mechanisms"); m != nil {
		for ch := range m.Children() {
			offered = append(offered, strings.TrimSpace(ch.Text()))
		}
	}
	// -mech may list several mechanisms, in order of preference.
	name := ""
	for _, m := range strings.Split(s.cfg.Mech, ",") {
		if m = strings.TrimSpace(m); slices.Contains(offered, m) {
			name = m
			break
		}
	}
	if name == "" {
		return failf("sasl:not-offered", "%s not offered (offered: %s)", s.cfg.Mech, strings.Join(offered, " "))
	}
	s.Mech = name
	mech, err := mechanism(name, s.cfg.Cache)
	if err != nil {
		return failf("sasl:client", "%v", err)
	}
	opts := []sasl.Option{
		sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(s.cfg.Password), nil }),
		sasl.RemoteMechanisms(offered...),
	}
	if tc, ok := s.c.(*tls.Conn); ok {
		opts = append(opts, sasl.TLSState(tc.ConnectionState()))
	}
	neg := sasl.NewClient(mech, opts...)
	_, resp, err := neg.Step(nil)
	if err != nil {
		return failf("sasl:client", "%v", err)
	}
	if err := s.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='` + name + `'>` + b64(resp) + `</auth>`); err != nil {
		return wrapKind("sasl", err)
	}
	for {
		el, err := s.next("sasl")
		if err != nil {
			return err
		}
		switch {
		case el.Is(xmppcore.NSSASL, "challenge"):
			in, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				return failf("sasl:bad-challenge", "%v", err)
			}
			_, resp, err := neg.Step(in)
			if err != nil {
				return failf("sasl:client", "%v", err)
			}
			if err := s.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + b64(resp) + `</response>`); err != nil {
				return wrapKind("sasl", err)
			}
		case el.Is(xmppcore.NSSASL, "success"):
			if add := strings.TrimSpace(el.Text()); add != "" && add != "=" && strings.HasPrefix(name, "SCRAM-") {
				in, err := base64.StdEncoding.DecodeString(add)
				if err != nil {
					return failf("sasl:bad-success", "%v", err)
				}
				if _, _, err := neg.Step(in); err != nil {
					return failf("sasl:server-signature", "%v", err)
				}
			}
			return nil
		case el.Is(xmppcore.NSSASL, "failure"):
			cond := "undefined"
			for ch := range el.Children() {
				if ch.Space == xmppcore.NSSASL && ch.Local != "text" {
					cond = ch.Local
				}
			}
			return failf("sasl:failure:"+cond, "%s", el.ChildText(xmppcore.NSSASL, "text"))
		default:
			return failf("sasl:unexpected", "unexpected <%s/> during SASL", el.Local)
		}
	}
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (s *Session) bind(features *xmppcore.Element) error {
	if features.Child(xmppcore.NSBind, "bind") == nil {
		return failf("bind:not-offered", "no bind feature")
	}
	res := ""
	if s.cfg.Resource != "" {
		res = "<resource>" + xmppcore.EscapeAttr(s.cfg.Resource) + "</resource>"
	}
	if err := s.send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` + res + `</bind></iq>`); err != nil {
		return wrapKind("bind", err)
	}
	el, err := s.awaitIQ("bind", "bind1")
	if err != nil {
		return err
	}
	s.JID = strings.TrimSpace(el.Child(xmppcore.NSBind, "bind").ChildText(xmppcore.NSBind, "jid"))
	// RFC 3921 session establishment, for servers that still require it.
	if sess := features.Child(xmppcore.NSSession, "session"); sess != nil && sess.Child(xmppcore.NSSession, "optional") == nil {
		if err := s.send(`<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`); err != nil {
			return wrapKind("session", err)
		}
		if _, err := s.awaitIQ("session", "sess1"); err != nil {
			return err
		}
	}
	return nil
}

// awaitIQ reads until the IQ response with id, skipping anything else.
func (s *Session) awaitIQ(phase, id string) (*xmppcore.Element, error) {
	for {
		el, err := s.next(phase)
		if err != nil {
			return nil, err
		}
		if el.Local != "iq" || el.Attr("id") != id {
			continue
		}
		if el.Attr("type") != "result" {
			cond := "undefined"
			if e := el.Child("", "error"); e != nil {
				if ch := e.FirstChild(); ch != nil {
					cond = ch.Local
				}
			}
			return nil, failf(phase+":error:"+cond, "%s", el)
		}
		if phase == "bind" && el.Child(xmppcore.NSBind, "bind") == nil {
			return nil, failf("bind:no-jid", "bind result without <bind/>")
		}
		return el, nil
	}
}
