package xmpptime

import (
	"context"
	"time"

	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// NS is the XEP-0202 namespace.
const NS = "urn:xmpp:time"

// XEP-0082 layouts. Go's "-07:00" writes +00:00 for UTC, never "Z", as
// the XEP-0202 examples do; the time itself is always UTC with "Z".
const (
	utcLayout = "2006-01-02T15:04:05Z"
	tzoLayout = "-07:00"
)

// Time is the XEP-0202 module.
type Time struct {
	now func() time.Time
}

var _ module.Module = (*Time)(nil)

// Option configures the module.
type Option func(*Time)

// WithClock replaces time.Now. The offset reported is that of the location
// of the times now returns, so a test controls both.
func WithClock(now func() time.Time) Option {
	return func(t *Time) { t.now = now }
}

// New returns the entity time module.
func New(opts ...Option) *Time {
	t := &Time{now: time.Now}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Name implements module.Module.
func (*Time) Name() string { return "time" }

// Register answers time gets to the server and advertises the feature.
func (t *Time) Register(r *module.Registrar) error {
	r.IQ("get", NS, "time", module.Server, t.answer)
	r.Feature(module.Server, NS)
	return nil
}

func (t *Time) answer(context.Context, *module.IQ) (*xmppcore.Element, error) {
	now := t.now()
	return xmppcore.New(NS, "time").Append(
		xmppcore.New(NS, "tzo").AppendText(now.Format(tzoLayout)),
		xmppcore.New(NS, "utc").AppendText(now.UTC().Format(utcLayout))), nil
}
