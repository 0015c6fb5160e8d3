package upload

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Namespaces.
const (
	NS           = "urn:xmpp:http:upload:0"
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
	NSData       = "jabber:x:data"
	NSPing       = "urn:xmpp:ping"
)

// Defaults of Options.
const (
	DefaultSubdomain       = "upload"
	DefaultName            = "HTTP File Upload"
	DefaultMaxFileSize     = 100 << 20
	DefaultSlotTimeout     = 5 * time.Minute
	DefaultMaxPendingSlots = 16
	DefaultMaxConcurrent   = 64
	DefaultPutTimeout      = 10 * time.Minute
	maxSlotsTotal          = 10000 // pending slots of all users, to bound memory
)

// Options configure the service.
type Options struct {
	// Subdomain is prefixed to each host to name its service.
	Subdomain string
	// Name is the name of the service's disco identity.
	Name string
	// Dir is the directory files are stored in (required).
	Dir string
	// BaseURL returns the URL under which Handler is reachable for a host,
	// ending in '/' (e.g. "https://example.org:5443/upload/"). Required.
	BaseURL func(host string) string
	// MaxFileSize is the largest file accepted, advertised in disco.
	MaxFileSize int64
	// Quota bounds the bytes a user has stored and pending (0: no quota).
	Quota int64
	// Expiry is how long a file is kept after its upload (0: forever).
	Expiry time.Duration
	// SlotTimeout is how long a PUT URL stays valid.
	SlotTimeout time.Duration
	// MaxPendingSlots bounds the slots one user has asked for and not used.
	MaxPendingSlots int
	// MaxConcurrent bounds the HTTP requests served at once.
	MaxConcurrent int
	// PutTimeout bounds the time one PUT may take to send its body.
	PutTimeout time.Duration
	// SweepInterval is the time between two expiry sweeps (Expiry/10
	// bounded to [1m, 1h] when 0).
	SweepInterval time.Duration
	// Secret keys the URL signatures (the server's secret; derived from).
	Secret []byte
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Upload is the XEP-0363 module.
type Upload struct {
	opts Options
	key  []byte
	rt   *router.Router
	log  *slog.Logger

	mu      sync.Mutex
	slots   map[string]*slot     // pending, by id
	files   map[string]*fileMeta // stored, by id
	users   map[string]*usage    // by bare JID
	domains map[string]string    // service domain -> host

	sem      chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	started  bool
}

// slot is an issued PUT URL not used yet.
type slot struct {
	id, owner, name, ctype, host string
	size                         int64
	expires                      time.Time
	busy                         bool // a PUT is storing it
}

// usage is what one user holds: stored files and pending slots.
type usage struct {
	bytes int64
	files map[string]*fileMeta
	slots map[string]*slot
}

var (
	_ module.Module  = (*Upload)(nil)
	_ module.Starter = (*Upload)(nil)
	_ module.Stopper = (*Upload)(nil)
)

// New returns the module. Options.Dir and Options.BaseURL are required.
func New(opts Options) *Upload {
	if opts.Subdomain == "" {
		opts.Subdomain = DefaultSubdomain
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if opts.SlotTimeout <= 0 {
		opts.SlotTimeout = DefaultSlotTimeout
	}
	if opts.MaxPendingSlots <= 0 {
		opts.MaxPendingSlots = DefaultMaxPendingSlots
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.PutTimeout <= 0 {
		opts.PutTimeout = DefaultPutTimeout
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = min(max(opts.Expiry/10, time.Minute), time.Hour)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	secret := opts.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	// A key of its own, so that a signature never means anything elsewhere.
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("parley upload url"))
	return &Upload{opts: opts, key: mac.Sum(nil),
		slots: make(map[string]*slot), files: make(map[string]*fileMeta),
		users: make(map[string]*usage), domains: make(map[string]string),
		sem: make(chan struct{}, opts.MaxConcurrent), stop: make(chan struct{}), done: make(chan struct{})}
}

// Name implements module.Module.
func (*Upload) Name() string { return "upload" }

// Register makes the service of each host the component of its domain and
// lists it in the server's disco#items.
func (u *Upload) Register(r *module.Registrar) error {
	u.rt, u.log = r.Router, r.Logger
	if u.log == nil {
		u.log = slog.Default()
	}
	for _, host := range r.Router.Hosts() {
		j, err := jid.New("", u.opts.Subdomain+"."+host, "")
		if err != nil {
			return fmt.Errorf("upload: service domain: %w", err)
		}
		d := j.String()
		if _, dup := u.domains[d]; dup {
			continue
		}
		u.domains[d] = host
		r.Router.SetComponent(d, u)
		r.Item(d)
	}
	return nil
}

// Domains returns the service domains, sorted.
func (u *Upload) Domains() []string {
	return slices.Sorted(maps.Keys(u.domains))
}

// Start loads the index of stored files and starts the expiry sweep.
func (u *Upload) Start(context.Context) error {
	if err := u.load(); err != nil {
		return err
	}
	u.started = true
	go u.sweeper()
	return nil
}

// Stop unregisters the components and stops the sweep.
func (u *Upload) Stop(ctx context.Context) error {
	u.stopOnce.Do(func() { close(u.stop) })
	if u.rt != nil {
		for d := range u.domains {
			u.rt.SetComponent(d, nil)
		}
	}
	if u.started {
		select {
		case <-u.done:
		case <-ctx.Done():
		}
	}
	return nil
}

func (u *Upload) sweeper() {
	defer close(u.done)
	t := time.NewTicker(u.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			u.Sweep()
		}
	}
}

// Deliver implements router.Component.
func (u *Upload) Deliver(ctx context.Context, st *router.Stanza) {
	defer func() {
		if p := recover(); p != nil {
			u.log.Error("upload: handler panicked", "from", st.From.String(), "panic", p, "stack", string(debug.Stack()))
			u.reply(ctx, st, xmppcore.ErrorReply(st.El, xmppcore.NewError(stanza.InternalServerError, "")))
		}
	}()
	if st.From.Equal(jid.JID{}) {
		return
	}
	host := u.domains[st.To.Domainpart()]
	if st.Kind() != xmppcore.IQ {
		if st.Kind() == xmppcore.Message && st.Type() != "error" {
			u.fail(ctx, st, xmppcore.NewError(stanza.ServiceUnavailable, ""), nil)
		}
		return
	}
	if !xmppcore.IsRequest(st.El) {
		return
	}
	payload := st.El.FirstChild()
	if payload == nil || st.El.ChildCount() != 1 || st.To.Localpart() != "" || st.To.Resourcepart() != "" {
		if st.To.Localpart() != "" || st.To.Resourcepart() != "" {
			u.fail(ctx, st, xmppcore.NewError(stanza.ServiceUnavailable, ""), nil)
			return
		}
		u.fail(ctx, st, xmppcore.NewError(stanza.BadRequest, ""), nil)
		return
	}
	get := st.Type() == "get"
	switch {
	case get && payload.Is(NSDiscoInfo, "query"):
		if payload.Attr("node") != "" {
			u.fail(ctx, st, xmppcore.NewError(stanza.ItemNotFound, ""), nil)
			return
		}
		u.result(ctx, st, u.discoInfo())
	case get && payload.Is(NSDiscoItems, "query"):
		if payload.Attr("node") != "" {
			u.fail(ctx, st, xmppcore.NewError(stanza.ItemNotFound, ""), nil)
			return
		}
		u.result(ctx, st, xmppcore.New(NSDiscoItems, "query"))
	case get && payload.Is(NSPing, "ping"):
		u.result(ctx, st, nil)
	case get && payload.Is(NS, "request"):
		res, se, app := u.requestSlot(st, host, payload)
		if res == nil {
			u.fail(ctx, st, se, app)
			return
		}
		u.result(ctx, st, res)
	default:
		u.fail(ctx, st, xmppcore.NewError(stanza.ServiceUnavailable, ""), nil)
	}
}

// discoInfo is the service's identity, feature and max-file-size form.
func (u *Upload) discoInfo() *xmppcore.Element {
	return xmppcore.New(NSDiscoInfo, "query").Append(
		xmppcore.New(NSDiscoInfo, "identity", "category", "store", "type", "file", "name", u.opts.Name),
		xmppcore.New(NSDiscoInfo, "feature", "var", NSDiscoInfo),
		xmppcore.New(NSDiscoInfo, "feature", "var", NSDiscoItems),
		xmppcore.New(NSDiscoInfo, "feature", "var", NSPing),
		xmppcore.New(NSDiscoInfo, "feature", "var", NS),
		xmppcore.New(NSData, "x", "type", "result").Append(
			xmppcore.New(NSData, "field", "var", "FORM_TYPE", "type", "hidden").Append(
				xmppcore.New(NSData, "value").AppendText(NS)),
			xmppcore.New(NSData, "field", "var", "max-file-size").Append(
				xmppcore.New(NSData, "value").AppendText(strconv.FormatInt(u.opts.MaxFileSize, 10)))))
}

func (u *Upload) result(ctx context.Context, st *router.Stanza, payload *xmppcore.Element) {
	el := xmppcore.New("", "iq", "type", "result", "id", st.El.Attr("id"),
		"from", st.To.String(), "to", st.From.String())
	if payload != nil {
		el.Append(payload)
	}
	u.reply(ctx, st, el)
}

// fail answers st with the stanza error se, app (if any) added inside
// <error/> after the condition and text.
func (u *Upload) fail(ctx context.Context, st *router.Stanza, se stanza.Error, app *xmppcore.Element) {
	el := xmppcore.ErrorReply(st.El, se)
	if el == nil {
		return
	}
	el.SetAttr("from", st.To.String())
	el.SetAttr("to", st.From.String())
	if app != nil {
		if e := el.Child("", "error"); e != nil {
			e.Append(app)
		}
	}
	u.reply(ctx, st, el)
}

func (u *Upload) reply(ctx context.Context, st *router.Stanza, el *xmppcore.Element) {
	if el == nil {
		return
	}
	u.rt.Route(ctx, &router.Stanza{El: el, From: st.To, To: st.From})
}
