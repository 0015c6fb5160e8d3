package extdisco

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the coturn REST scheme is defined with HMAC-SHA1
	"encoding/base64"
	"strconv"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// NS is the XEP-0215 namespace.
const NS = "urn:xmpp:extdisco:2"

// DefaultTTL is the credential lifetime when Options.TTL is zero.
const DefaultTTL = 24 * time.Hour

// Service is one external service.
type Service struct {
	Type      string // stun, stuns, turn, turns
	Host      string
	Port      int
	Transport string // udp, tcp
	Name      string
	// Secret, when set, makes the service restricted: credentials are
	// computed from it.
	Secret string
}

// Options configure the module.
type Options struct {
	Services []Service
	// TTL is how long credentials stay valid (DefaultTTL when zero).
	TTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ExtDisco is the XEP-0215 module.
type ExtDisco struct {
	opts Options
}

var _ module.Module = (*ExtDisco)(nil)

// New returns the module.
func New(opts Options) *ExtDisco {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &ExtDisco{opts: opts}
}

// Name implements module.Module.
func (*ExtDisco) Name() string { return "extdisco" }

// Register answers the two requests on the server.
func (m *ExtDisco) Register(r *module.Registrar) error {
	r.IQ("get", NS, "services", module.Server, m.services)
	r.IQ("get", NS, "credentials", module.Server, m.credentials)
	r.Feature(module.Server, NS)
	return nil
}

var (
	errForbidden  = xmppcore.NewError(stanza.Forbidden, "external services are for this server's users")
	errNoService  = xmppcore.NewError(stanza.ItemNotFound, "no such service")
	errBadRequest = xmppcore.NewError(stanza.BadRequest, "credentials name one service by host and type")
	errNoCreds    = xmppcore.NewError(stanza.NotAcceptable, "the service needs no credentials")
)

// user returns the requester if it is a local user on the addressed host.
func user(iq *module.IQ) (jid.JID, error) {
	if iq.Origin == nil || iq.From.Localpart() == "" || iq.From.Domainpart() != iq.To.Domainpart() {
		return jid.JID{}, errForbidden
	}
	return iq.From.Bare(), nil
}

func (m *ExtDisco) services(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	u, err := user(iq)
	if err != nil {
		return nil, err
	}
	typ := iq.Payload.Attr("type")
	out := xmppcore.New(NS, "services")
	if typ != "" {
		out.SetAttr("type", typ)
	}
	now := m.opts.Now()
	for _, s := range m.opts.Services {
		if typ == "" || s.Type == typ {
			out.Append(m.element(s, u, now))
		}
	}
	return out, nil
}

func (m *ExtDisco) credentials(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	u, err := user(iq)
	if err != nil {
		return nil, err
	}
	want := iq.Payload.Child(NS, "service")
	if want == nil || want.Attr("host") == "" || want.Attr("type") == "" || iq.Payload.ChildCount() != 1 {
		return nil, errBadRequest
	}
	port := 0
	if p := want.Attr("port"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, errBadRequest
		}
		port = n
	}
	out := xmppcore.New(NS, "credentials")
	now := m.opts.Now()
	found := false
	for _, s := range m.opts.Services {
		if s.Host != want.Attr("host") || s.Type != want.Attr("type") || (port != 0 && s.Port != port) {
			continue
		}
		found = true
		if s.Secret != "" {
			out.Append(m.element(s, u, now))
		}
	}
	switch {
	case !found:
		return nil, errNoService
	case out.ChildCount() == 0:
		return nil, errNoCreds
	}
	return out, nil
}

// element is a service's <service/>, with fresh credentials for user when
// it is restricted.
func (m *ExtDisco) element(s Service, user jid.JID, now time.Time) *xmppcore.Element {
	el := xmppcore.New(NS, "service", "type", s.Type, "host", s.Host)
	if s.Port != 0 {
		el.SetAttr("port", strconv.Itoa(s.Port))
	}
	if s.Transport != "" {
		el.SetAttr("transport", s.Transport)
	}
	if s.Name != "" {
		el.SetAttr("name", s.Name)
	}
	if s.Secret != "" {
		expires := now.Add(m.opts.TTL).UTC().Truncate(time.Second)
		username, password := Credentials(s.Secret, user.String(), expires)
		el.SetAttr("restricted", "1")
		el.SetAttr("username", username)
		el.SetAttr("password", password)
		el.SetAttr("expires", expires.Format(time.RFC3339))
	}
	return el
}

// Credentials computes TURN credentials with the coturn REST scheme:
// username "<expires as Unix time>:<user>" (just the time when user is
// empty) and password base64(HMAC-SHA1(secret, username)).
func Credentials(secret, user string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10)
	if user != "" {
		username += ":" + user
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
