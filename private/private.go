package private

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// NS is the XEP-0049 namespace.
const NS = "jabber:iq:private"

// DefaultMaxSize is the most bytes one account stores when
// Options.MaxSize is zero.
const DefaultMaxSize = 256 << 10

// Store is the part of storage the module uses.
type Store interface {
	GetData(ctx context.Context, host, username, kind, key string) ([]byte, error)
	PutData(ctx context.Context, host, username, kind, key string, value []byte) error
	ListData(ctx context.Context, host, username, kind string) ([]storage.DataItem, error)
}

// Options configure the module.
type Options struct {
	// MaxSize is the most bytes of private XML one account keeps, all
	// namespaces together: 0 means DefaultMaxSize.
	MaxSize int
}

// Private is the XEP-0049 module.
type Private struct {
	store Store
	max   int
}

var (
	_ module.Module = (*Private)(nil)
	_ Store         = storage.AccountData(nil)
)

// New returns the private XML storage module over store.
func New(store Store, opts Options) *Private {
	p := &Private{store: store, max: opts.MaxSize}
	if p.max <= 0 {
		p.max = DefaultMaxSize
	}
	return p
}

// Name implements module.Module.
func (*Private) Name() string { return "private" }

// Register answers private XML gets and sets on the user's own account.
func (p *Private) Register(r *module.Registrar) error {
	r.IQ("get", NS, "query", module.Account, p.get)
	r.IQ("set", NS, "query", module.Account, p.set)
	r.Feature(module.Server, NS)
	r.Feature(module.Account, NS)
	return nil
}

var (
	errForbidden = xmppcore.NewError(stanza.Forbidden, "private XML belongs to its owner")
	errGetOne    = xmppcore.NewError(stanza.BadRequest, "a get names exactly one element")
	errSetNone   = xmppcore.NewError(stanza.NotAcceptable, "a set carries at least one element")
	errReserved  = xmppcore.NewError(stanza.NotAcceptable, "reserved namespace")
)

// reserved reports whether a namespace may not be stored.
func reserved(space string) bool {
	switch space {
	case "", xmppcore.NSClient, xmppcore.NSServer, NS:
		return true
	}
	return false
}

func (p *Private) get(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	if iq.Payload.ChildCount() != 1 {
		return nil, errGetOne
	}
	want := iq.Payload.FirstChild()
	if reserved(want.Space) {
		return nil, errReserved
	}
	user := iq.To.Bare()
	q := xmppcore.New(NS, "query")
	b, err := p.store.GetData(ctx, user.Domainpart(), user.Localpart(), storage.DataPrivate, want.Space)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return q.Append(want), nil
	case err != nil:
		return nil, err
	}
	el, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("private: stored %q of %s: %w", want.Space, user, err)
	}
	return q.Append(el), nil
}

func (p *Private) set(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	if iq.Payload.ChildCount() == 0 {
		return nil, errSetNone
	}
	next := make(map[string][]byte)
	var order []string
	for c := range iq.Payload.Children() {
		if reserved(c.Space) {
			return nil, errReserved
		}
		if _, ok := next[c.Space]; !ok {
			order = append(order, c.Space)
		}
		next[c.Space] = c.AppendXML(nil, xmppcore.NSClient)
	}
	user := iq.To.Bare()
	host, name := user.Domainpart(), user.Localpart()
	stored, err := p.store.ListData(ctx, host, name, storage.DataPrivate)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, it := range stored {
		if _, replaced := next[it.Key]; !replaced {
			total += len(it.Value)
		}
	}
	for _, b := range next {
		total += len(b)
	}
	if total > p.max {
		return nil, xmppcore.NewError(stanza.NotAcceptable, fmt.Sprintf("private XML is limited to %d bytes per account", p.max))
	}
	for _, ns := range order {
		if err := p.store.PutData(ctx, host, name, storage.DataPrivate, ns, next[ns]); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

const (
	streamOpen  = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	streamClose = `</stream:stream>`
)

// parse reads back an element serialized in the client namespace.
func parse(b []byte) (*xmppcore.Element, error) {
	in := bytes.NewReader(append(append([]byte(streamOpen), b...), streamClose...))
	rd := xmppcore.NewReader(in, xmppcore.Limits{MaxStanzaSize: len(b) + 1024, MaxDepth: 1 << 10})
	if _, err := rd.ReadHeader(); err != nil {
		return nil, err
	}
	return rd.Next()
}
