package vcard

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

// NS is the vcard-temp namespace.
const NS = "vcard-temp"

// DefaultMaxSize is the largest stored vCard, in bytes, when
// Options.MaxSize is zero.
const DefaultMaxSize = 64 << 10

// Store is the part of storage the module uses.
type Store interface {
	GetData(ctx context.Context, host, username, kind, key string) ([]byte, error)
	PutData(ctx context.Context, host, username, kind, key string, value []byte) error
	DeleteData(ctx context.Context, host, username, kind, key string) error
}

// Options configure the module.
type Options struct {
	// MaxSize is the largest vCard accepted, in bytes of its
	// serialization: 0 means DefaultMaxSize.
	MaxSize int
}

// VCard is the XEP-0054 module.
type VCard struct {
	store Store
	max   int
}

var (
	_ module.Module = (*VCard)(nil)
	_ Store         = storage.AccountData(nil)
)

// New returns the vcard-temp module over store.
func New(store Store, opts Options) *VCard {
	v := &VCard{store: store, max: opts.MaxSize}
	if v.max <= 0 {
		v.max = DefaultMaxSize
	}
	return v
}

// Name implements module.Module.
func (*VCard) Name() string { return "vcard" }

// Register answers vCard gets and sets on accounts.
func (v *VCard) Register(r *module.Registrar) error {
	r.IQ("get", NS, "vCard", module.Account, v.get)
	r.IQ("set", NS, "vCard", module.Account, v.set)
	r.Feature(module.Server, NS)
	r.Feature(module.Account, NS)
	return nil
}

func (v *VCard) get(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	user := iq.To.Bare()
	b, err := v.store.GetData(ctx, user.Domainpart(), user.Localpart(), storage.DataVCard, "")
	if errors.Is(err, storage.ErrNotFound) {
		return xmppcore.New(NS, "vCard"), nil
	}
	if err != nil {
		return nil, err
	}
	el, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("vcard: stored vCard of %s: %w", user, err)
	}
	return el, nil
}

var errForbidden = xmppcore.NewError(stanza.Forbidden, "only your own vCard can be changed")

func (v *VCard) set(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	user := iq.To.Bare()
	host, name := user.Domainpart(), user.Localpart()
	if iq.Payload.ChildCount() == 0 {
		err := v.store.DeleteData(ctx, host, name, storage.DataVCard, "")
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	b := iq.Payload.AppendXML(nil, xmppcore.NSClient)
	if len(b) > v.max {
		return nil, xmppcore.NewError(stanza.NotAcceptable, fmt.Sprintf("the vCard is larger than %d bytes", v.max))
	}
	return nil, v.store.PutData(ctx, host, name, storage.DataVCard, "", b)
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
	el, err := rd.Next()
	if err != nil {
		return nil, err
	}
	if !el.Is(NS, "vCard") {
		return nil, errors.New("not a vCard")
	}
	return el, nil
}
