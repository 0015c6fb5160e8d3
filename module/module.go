package module

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Module is a feature of the server.
type Module interface {
	// Name is the module's short name, as used in configuration and logs.
	Name() string
	// Register declares what the module provides. It runs once, before
	// the listeners start.
	Register(r *Registrar) error
}

// Starter is implemented by modules with work to run while the server is
// up (background goroutines, caches). Start must return promptly.
type Starter interface {
	Start(ctx context.Context) error
}

// Stopper is implemented by modules that must flush or release something
// at shutdown, after the listeners stopped.
type Stopper interface {
	Stop(ctx context.Context) error
}

// Drainer is implemented by modules that must say goodbye to users over
// their sessions at shutdown (a MUC service telling occupants, with status
// 332, that it shuts down). Drain runs before the sessions close; Stop
// still runs after.
type Drainer interface {
	Drain(ctx context.Context) error
}

// Target says to which kind of address an IQ handler answers.
type Target int

const (
	// Server handlers answer IQs addressed to a local host.
	Server Target = iota
	// Account handlers answer IQs addressed to a local user's bare JID, or
	// sent without 'to' by the user.
	Account
)

// IQ is an IQ request given to a handler.
type IQ struct {
	Stanza  *xmppcore.Element
	Payload *xmppcore.Element
	Type    string  // "get" or "set"
	From    jid.JID // the requester's full JID
	To      jid.JID // the addressed host or bare JID
	// Origin is the requester's local session, nil for remote requesters.
	Origin router.Session
	// Self is true when a user addresses their own account (or sent no 'to').
	Self bool
}

// IQHandler answers an IQ: the payload of the result (nil for an empty
// result), or an error. A stanza.Error goes to the requester as it is;
// any other error is logged and answered with internal-server-error.
type IQHandler func(ctx context.Context, iq *IQ) (*xmppcore.Element, error)

// AppError is a stanza error with an application-specific condition (RFC
// 6120 §8.3.2), such as XEP-0060's <precondition-not-met/>: an IQHandler
// returns it for App to follow the defined condition in the <error/>
// element. Unwrap gives Err, so errors.As finds the stanza.Error too.
type AppError struct {
	Err stanza.Error
	App *xmppcore.Element
}

func (e AppError) Error() string { return e.Err.Error() }

// Unwrap returns the defined condition's error.
func (e AppError) Unwrap() error { return e.Err }

// Identity is a disco#info identity.
type Identity struct {
	Category, Type, Name string
}

// Env is what modules get to work with.
type Env struct {
	Router *router.Router
	Store  storage.Store
	Logger *slog.Logger
}

type iqKey struct {
	typ    string
	space  string
	local  string
	target Target
}

// Registry holds what modules registered.
type Registry struct {
	env Env

	mu         sync.RWMutex
	iq         map[iqKey]IQHandler
	features   map[Target][]string
	identities map[Target][]Identity
	items      []string // disco#items of the server: component domains
	nodes      []accountNodesEntry
	features2  []streamFeature
	mods       []Module
	undo       []func()
	nextID     uint64
}

// NewRegistry returns an empty registry and hooks it into the router.
func NewRegistry(env Env) *Registry {
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	reg := &Registry{env: env, iq: make(map[iqKey]IQHandler),
		features: make(map[Target][]string), identities: make(map[Target][]Identity)}
	reg.undo = append(reg.undo,
		env.Router.Hook(router.EventIQHost, router.PriorityDefault, reg.handleHostIQ),
		env.Router.Hook(router.EventIQBare, router.PriorityDefault, reg.handleBareIQ))
	return reg
}

// Registrar is the view of the registry a module registers through; all it
// registers is removed when the registry closes.
type Registrar struct {
	reg    *Registry
	module string
	errs   []error
	Env
}

// Add registers a module.
func (reg *Registry) Add(m Module) error {
	r := &Registrar{reg: reg, module: m.Name(), Env: reg.env}
	r.Logger = reg.env.Logger.With("module", m.Name())
	if err := errors.Join(append([]error{m.Register(r)}, r.errs...)...); err != nil {
		return fmt.Errorf("module %s: %w", m.Name(), err)
	}
	reg.mu.Lock()
	reg.mods = append(reg.mods, m)
	reg.mu.Unlock()
	return nil
}

// Start starts every module that has work to run, in registration order.
func (reg *Registry) Start(ctx context.Context) error {
	for _, m := range reg.modules() {
		if s, ok := m.(Starter); ok {
			if err := s.Start(ctx); err != nil {
				return fmt.Errorf("module %s: start: %w", m.Name(), err)
			}
		}
	}
	return nil
}

// Drain runs the Drain of every module that has one, in reverse order,
// while the sessions are still up.
func (reg *Registry) Drain(ctx context.Context) error {
	var errs []error
	mods := reg.modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if d, ok := mods[i].(Drainer); ok {
			if err := d.Drain(ctx); err != nil {
				errs = append(errs, fmt.Errorf("module %s: drain: %w", mods[i].Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// Stop stops the modules in reverse order and removes every registration.
func (reg *Registry) Stop(ctx context.Context) error {
	var errs []error
	mods := reg.modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if s, ok := mods[i].(Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("module %s: stop: %w", mods[i].Name(), err))
			}
		}
	}
	reg.mu.Lock()
	undo := reg.undo
	reg.undo = nil
	reg.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
	return errors.Join(errs...)
}

func (reg *Registry) modules() []Module {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return slices.Clone(reg.mods)
}

// IQ registers the handler of IQs of type typ ("get" or "set") whose
// payload is {space}local, for a target. Registering a pair twice is a
// programming error that makes the module's Register fail.
func (r *Registrar) IQ(typ, space, local string, target Target, h IQHandler) {
	k := iqKey{typ, space, local, target}
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	if _, dup := r.reg.iq[k]; dup {
		r.errs = append(r.errs, fmt.Errorf("IQ handler for %s {%s}%s registered twice", typ, space, local))
		return
	}
	r.reg.iq[k] = h
	r.reg.undo = append(r.reg.undo, func() {
		r.reg.mu.Lock()
		delete(r.reg.iq, k)
		r.reg.mu.Unlock()
	})
}

// Hook adds a routing hook.
func (r *Registrar) Hook(ev router.Event, prio int, h router.Handler) {
	remove := r.Router.Hook(ev, prio, h)
	r.reg.mu.Lock()
	r.reg.undo = append(r.reg.undo, remove)
	r.reg.mu.Unlock()
}

// OnSessionBound and OnSessionEnded add session life hooks.
func (r *Registrar) OnSessionBound(h router.SessionHook) {
	remove := r.Router.OnSessionBound(h)
	r.reg.mu.Lock()
	r.reg.undo = append(r.reg.undo, remove)
	r.reg.mu.Unlock()
}

// OnSessionEnded adds a hook run when a session ends.
func (r *Registrar) OnSessionEnded(h router.SessionHook) {
	remove := r.Router.OnSessionEnded(h)
	r.reg.mu.Lock()
	r.reg.undo = append(r.reg.undo, remove)
	r.reg.mu.Unlock()
}

// Feature advertises a disco feature on a target.
func (r *Registrar) Feature(target Target, ns string) {
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	if slices.Contains(r.reg.features[target], ns) {
		return
	}
	r.reg.features[target] = append(r.reg.features[target], ns)
	r.reg.undo = append(r.reg.undo, func() {
		r.reg.mu.Lock()
		defer r.reg.mu.Unlock()
		r.reg.features[target] = slices.DeleteFunc(r.reg.features[target], func(f string) bool { return f == ns })
	})
}

// Identity advertises a disco identity on a target (once: XEP-0030 §3.1
// forbids duplicates).
func (r *Registrar) Identity(target Target, id Identity) {
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	if slices.Contains(r.reg.identities[target], id) {
		return
	}
	r.reg.identities[target] = append(r.reg.identities[target], id)
	r.reg.undo = append(r.reg.undo, func() {
		r.reg.mu.Lock()
		defer r.reg.mu.Unlock()
		r.reg.identities[target] = slices.DeleteFunc(r.reg.identities[target], func(i Identity) bool { return i == id })
	})
}

// Item lists a domain (a component) in the server's disco#items.
func (r *Registrar) Item(domain string) {
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	if slices.Contains(r.reg.items, domain) {
		return
	}
	r.reg.items = append(r.reg.items, domain)
	r.reg.undo = append(r.reg.undo, func() {
		r.reg.mu.Lock()
		defer r.reg.mu.Unlock()
		r.reg.items = slices.DeleteFunc(r.reg.items, func(d string) bool { return d == domain })
	})
}

type streamFeature struct {
	id   uint64
	make func() *xmppcore.Element
}

// StreamFeature adds an element to the stream features offered after
// authentication (roster versioning, stream management...). make is called
// for every stream, so it may vary.
func (r *Registrar) StreamFeature(make func() *xmppcore.Element) {
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	r.reg.nextID++
	id := r.reg.nextID
	r.reg.features2 = append(r.reg.features2, streamFeature{id, make})
	r.reg.undo = append(r.reg.undo, func() {
		r.reg.mu.Lock()
		defer r.reg.mu.Unlock()
		r.reg.features2 = slices.DeleteFunc(r.reg.features2, func(f streamFeature) bool { return f.id == id })
	})
}

// StreamFeatures returns the post-authentication stream features the
// modules registered.
func (reg *Registry) StreamFeatures() []*xmppcore.Element {
	reg.mu.RLock()
	fs := slices.Clone(reg.features2)
	reg.mu.RUnlock()
	out := make([]*xmppcore.Element, 0, len(fs))
	for _, f := range fs {
		if el := f.make(); el != nil {
			out = append(out, el)
		}
	}
	return out
}

// Features returns the disco features of a target, sorted.
func (reg *Registry) Features(target Target) []string {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	f := slices.Clone(reg.features[target])
	slices.Sort(f)
	return f
}

// Identities returns the disco identities of a target.
func (reg *Registry) Identities(target Target) []Identity {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return slices.Clone(reg.identities[target])
}

// Items returns the server's disco items.
func (reg *Registry) Items() []string {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return slices.Clone(reg.items)
}

func (reg *Registry) lookup(k iqKey) IQHandler {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return reg.iq[k]
}

func (reg *Registry) handleHostIQ(ctx context.Context, st *router.Stanza) bool {
	return reg.dispatch(ctx, st, Server)
}

func (reg *Registry) handleBareIQ(ctx context.Context, st *router.Stanza) bool {
	return reg.dispatch(ctx, st, Account)
}

// dispatch answers a get/set IQ with the registered handler. An IQ the
// user sent without 'to' falls back to the server's handler, so that ping,
// version and time work whichever way a client addresses them.
func (reg *Registry) dispatch(ctx context.Context, st *router.Stanza, target Target) bool {
	if !xmppcore.IsRequest(st.El) {
		return false
	}
	typ := st.Type()
	payload := st.El.FirstChild()
	if payload == nil || st.El.ChildCount() != 1 {
		// RFC 6120 §8.2.3: exactly one payload element.
		reg.env.Router.Error(ctx, st, xmppcore.NewError(stanza.BadRequest, "an IQ get or set carries exactly one child"))
		return true
	}
	k := iqKey{typ, payload.Space, payload.Local, target}
	h := reg.lookup(k)
	noTo := st.El.Attr("to") == ""
	if h == nil && target == Account && noTo {
		k.target = Server
		h = reg.lookup(k)
	}
	if h == nil {
		return false
	}
	iq := &IQ{Stanza: st.El, Payload: payload, Type: typ, From: st.From, To: st.To, Origin: st.Origin,
		Self: target == Account && st.From.Bare().Equal(st.To.Bare())}
	result, err := reg.call(ctx, h, iq)
	var ae AppError
	if errors.As(err, &ae) && ae.App != nil {
		reg.appError(ctx, st, ae)
		return true
	}
	if err != nil {
		var se stanza.Error
		if !errors.As(err, &se) {
			reg.env.Logger.Error("IQ handler failed", "payload", payload.Space+" "+payload.Local,
				"from", st.From.String(), "err", err)
			se = xmppcore.NewError(stanza.InternalServerError, "")
		}
		reg.env.Router.Error(ctx, st, se)
		return true
	}
	reply := xmppcore.New("", xmppcore.IQ, "type", "result")
	if id := st.El.Attr("id"); id != "" {
		reply.SetAttr("id", id)
	}
	reply.SetAttr("to", st.From.String())
	if !noTo {
		// The normalized address, as Router.Error uses: a client that wrote
		// "EXAMPLE.org" gets its answer from "example.org".
		reply.SetAttr("from", st.To.String())
	}
	if result != nil {
		reply.Append(result)
	}
	out := &router.Stanza{El: reply, From: st.To, To: st.From}
	if st.Origin != nil && st.Origin.JID().Equal(st.From) {
		st.Origin.Send(reply)
	} else {
		reg.env.Router.Route(ctx, out)
	}
	return true
}

func (reg *Registry) call(ctx context.Context, h IQHandler, iq *IQ) (res *xmppcore.Element, err error) {
	defer func() {
		if p := recover(); p != nil {
			reg.env.Logger.Error("IQ handler panicked", "payload", iq.Payload.Space+" "+iq.Payload.Local,
				"panic", p, "stack", string(debug.Stack()))
			res, err = nil, xmppcore.NewError(stanza.InternalServerError, "")
		}
	}()
	return h(ctx, iq)
}

// appError answers st with an error carrying an application-specific
// condition, addressed and sent as Router.Error sends the others.
func (reg *Registry) appError(ctx context.Context, st *router.Stanza, ae AppError) {
	reply := xmppcore.ErrorReply(st.El, ae.Err)
	if reply == nil || st.From.Equal(jid.JID{}) {
		return
	}
	if e := reply.Child("", "error"); e != nil {
		// After the defined condition, before any <text/> (RFC 6120 §8.3.2
		// lets the text come either way; this order is its examples').
		e.Nodes = slices.Insert(e.Nodes, 1, xmppcore.Node{Elem: ae.App.Clone()})
	}
	from := st.To
	if from.Equal(jid.JID{}) {
		from = st.From.Domain()
	}
	reply.SetAttr("from", from.String())
	reply.SetAttr("to", st.From.String())
	if st.Origin != nil && st.Origin.JID().Equal(st.From) {
		st.Origin.Send(reply)
		return
	}
	reg.env.Router.Route(ctx, &router.Stanza{El: reply, From: from, To: st.From})
}

// DiscoItem is one <item/> of a disco#items answer.
type DiscoItem struct {
	JID, Node, Name string
}

// NodeInfo is the disco#info of a node: identities, features and XEP-0128
// forms.
type NodeInfo struct {
	Identities []Identity
	Features   []string
	Forms      []*xmppcore.Element
}

// AccountNodes is implemented by modules that put nodes under local
// accounts (PEP nodes), so that the disco module can list and describe
// them. requester is the full JID asking; account a local bare JID.
type AccountNodes interface {
	// AccountItems returns the items the module adds to the disco#items of
	// account at node, "" being the account itself. ok is false when the
	// module has no such node (never for ""); a stanza.Error is the answer
	// as it is.
	AccountItems(ctx context.Context, requester, account jid.JID, node string) (items []DiscoItem, ok bool, err error)
	// AccountNodeInfo returns the disco#info of a node of account (never
	// ""), with ok false when the module has no such node.
	AccountNodeInfo(ctx context.Context, requester, account jid.JID, node string) (info NodeInfo, ok bool, err error)
}

type accountNodesEntry struct {
	id uint64
	p  AccountNodes
}

// AccountNodes registers a provider of account nodes for disco.
func (r *Registrar) AccountNodes(p AccountNodes) {
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	r.reg.nextID++
	id := r.reg.nextID
	r.reg.nodes = append(r.reg.nodes, accountNodesEntry{id, p})
	r.reg.undo = append(r.reg.undo, func() {
		r.reg.mu.Lock()
		defer r.reg.mu.Unlock()
		r.reg.nodes = slices.DeleteFunc(r.reg.nodes, func(e accountNodesEntry) bool { return e.id == id })
	})
}

// AccountNodes returns the registered providers of account nodes, in
// registration order.
func (reg *Registry) AccountNodes() []AccountNodes {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	out := make([]AccountNodes, len(reg.nodes))
	for i, e := range reg.nodes {
		out[i] = e.p
	}
	return out
}
