package version

import (
	"context"
	"runtime"

	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// NS is the XEP-0092 namespace.
const NS = "jabber:iq:version"

// Name is the software name the server reports.
const Name = "Parley"

// Version is the XEP-0092 module.
type Version struct {
	version string
	os      string // "" to leave <os/> out
}

var _ module.Module = (*Version)(nil)

// Option configures the module.
type Option func(*Version)

// WithOS makes the answer include the operating system (runtime.GOOS).
func WithOS() Option {
	return func(v *Version) { v.os = runtime.GOOS }
}

// New returns the module reporting version, the server's build version.
// An empty version is reported as "unknown", since XEP-0092 requires the
// element.
func New(version string, opts ...Option) *Version {
	if version == "" {
		version = "unknown"
	}
	v := &Version{version: version}
	for _, o := range opts {
		o(v)
	}
	return v
}

// Name implements module.Module.
func (*Version) Name() string { return "version" }

// Register answers version gets to the server and advertises the feature.
func (v *Version) Register(r *module.Registrar) error {
	r.IQ("get", NS, "query", module.Server, v.answer)
	r.Feature(module.Server, NS)
	return nil
}

func (v *Version) answer(context.Context, *module.IQ) (*xmppcore.Element, error) {
	// Built per request: the router may hand the reply to several writers,
	// and a shared tree would invite someone to modify it.
	q := xmppcore.New(NS, "query").Append(
		xmppcore.New(NS, "name").AppendText(Name),
		xmppcore.New(NS, "version").AppendText(v.version))
	if v.os != "" {
		q.Append(xmppcore.New(NS, "os").AppendText(v.os))
	}
	return q, nil
}
