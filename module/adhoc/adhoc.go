package adhoc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Namespaces used here.
const (
	NS        = "http://jabber.org/protocol/commands"
	NSData    = "jabber:x:data"
	NSInfo    = "http://jabber.org/protocol/disco#info"
	NSItems   = "http://jabber.org/protocol/disco#items"
	nsStanzas = xmppcore.NSStanzas
)

// Limits of the sessions of multi-stage commands.
const (
	SessionTTL  = 10 * time.Minute
	MaxSessions = 10000
)

// Command is one ad-hoc command.
type Command struct {
	Node, Name string
	// Allowed reports whether requester, a local user's full JID, may see
	// and run the command on host. Nil allows every local user.
	Allowed func(host string, requester jid.JID) bool
	// Run runs one stage. An error it returns goes back from Execute as
	// it is: a stanza error for the requester (BadPayload makes one), or
	// an internal failure.
	Run func(ctx context.Context, req *Request) (*Response, error)
}

// Request is one stage of a command as the requester sent it.
type Request struct {
	From   jid.JID // the requester's full JID
	Host   string  // the host the command was sent to
	Action string  // execute, complete or next
	// Form is the submitted data form, nil when none came.
	Form *xmppcore.Element
	// State is what the previous stage returned, nil at the first.
	State any
}

// Response is what a stage answers.
type Response struct {
	// Form is the form to fill in (Executing) or the result.
	Form  *xmppcore.Element
	Notes []Note
	// Executing keeps the session for a next stage, which the requester
	// reaches with complete (the one action offered).
	Executing bool
	State     any
}

// Note is a <note/> of a response: type info, warn or error.
type Note struct{ Type, Text string }

// Service runs the commands added to it. The module that owns it (it
// cannot be a module itself: modules are a tier above) registers Execute
// as the IQ handler of {NS}command on the server, the feature NS, and
// Disco as a hook on router.EventIQHost ahead of the registry.
type Service struct {
	mu       sync.Mutex
	commands []Command
	sessions map[string]*session
}

type session struct {
	owner   jid.JID
	host    string
	node    string
	state   any
	expires time.Time
}

// New returns a service with no command.
func New() *Service {
	return &Service{sessions: make(map[string]*session)}
}

// DiscoPriority is the priority of the Disco hook: ahead of the registry
// (and so of the disco module, which knows no server nodes).
const DiscoPriority = router.PriorityDefault + 10

// Add adds a command and returns the function that removes it. A node
// added twice replaces the first.
func (s *Service) Add(c Command) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = slices.DeleteFunc(s.commands, func(o Command) bool { return o.Node == c.Node })
	s.commands = append(s.commands, c)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.commands = slices.DeleteFunc(s.commands, func(o Command) bool { return o.Node == c.Node })
	}
}

// command returns the command added at node, nil when there is none.
func (s *Service) command(node string) *Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cmd *Command
	for _, c := range s.commands {
		if c.Node == node {
			cmd = &c
		}
	}
	return cmd
}

// visible returns the commands requester may run on host, in order added.
func (s *Service) visible(host string, requester jid.JID) []Command {
	s.mu.Lock()
	cmds := slices.Clone(s.commands)
	s.mu.Unlock()
	return slices.DeleteFunc(cmds, func(c Command) bool { return !allowed(c, host, requester) })
}

func allowed(c Command, host string, requester jid.JID) bool {
	return c.Allowed == nil || c.Allowed(host, requester)
}

// local reports whether from is a user of host with a local session.
func local(origin router.Session, from jid.JID, host string) bool {
	return origin != nil && from.Localpart() != "" && from.Domainpart() == host
}

// Disco answers disco#items of the commands node and disco#info of a
// command node, on a host; other queries go on to the disco module.
func (s *Service) Disco(ctx context.Context, rt *router.Router, st *router.Stanza) bool {
	if st.Kind() != xmppcore.IQ || st.Type() != "get" || st.El.ChildCount() != 1 {
		return false
	}
	q := st.El.FirstChild()
	node := q.Attr("node")
	if node == "" || q.Local != "query" || (q.Space != NSItems && q.Space != NSInfo) {
		return false
	}
	host := st.To.Domainpart()
	var cmd *Command
	if q.Space == NSInfo {
		cmd = s.command(node)
		if cmd == nil {
			return false
		}
	} else if node != NS {
		return false
	}
	var res *xmppcore.Element
	switch {
	case !local(st.Origin, st.From, host):
		rt.Error(ctx, st, xmppcore.NewError(stanza.Forbidden, "commands are for this server's users"))
		return true
	case q.Space == NSItems:
		res = xmppcore.New(NSItems, "query", "node", NS)
		for _, c := range s.visible(host, st.From) {
			res.Append(xmppcore.New(NSItems, "item", "jid", host, "node", c.Node, "name", c.Name))
		}
	case !allowed(*cmd, host, st.From):
		rt.Error(ctx, st, xmppcore.NewError(stanza.Forbidden, ""))
		return true
	default:
		res = xmppcore.New(NSInfo, "query", "node", node).Append(
			xmppcore.New(NSInfo, "identity", "category", "automation", "type", "command-node", "name", cmd.Name),
			xmppcore.New(NSInfo, "feature", "var", NS),
			xmppcore.New(NSInfo, "feature", "var", NSData))
	}
	reply := xmppcore.New("", xmppcore.IQ, "type", "result", "from", st.To.String(), "to", st.From.String())
	if id := st.El.Attr("id"); id != "" {
		reply.SetAttr("id", id)
	}
	reply.Append(res)
	st.Origin.Send(reply)
	return true
}

// Error is a XEP-0050 error: a defined condition with the specific
// condition (App) of the commands namespace. Its owner turns it into a
// module.AppError. Unwrap gives the defined condition.
type Error struct {
	Err stanza.Error
	App *xmppcore.Element
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the defined condition's error.
func (e *Error) Unwrap() error { return e.Err }

func cmdError(cond stanza.Condition, specific string) error {
	return &Error{Err: xmppcore.NewError(cond, ""), App: xmppcore.New(NS, specific)}
}

// BadPayload is the error for a submitted form a command cannot accept
// (a required field missing or invalid), with text for the requester.
func BadPayload(text string) error {
	return &Error{Err: xmppcore.NewError(stanza.BadRequest, text), App: xmppcore.New(NS, "bad-payload")}
}

// Exec is a command IQ as the owner's handler got it.
type Exec struct {
	From jid.JID // the requester's full JID
	To   jid.JID // the host addressed
	// Local is true when the requester is a local session.
	Local   bool
	Payload *xmppcore.Element // the <command/>
}

var (
	errMalformedAction = cmdError(stanza.BadRequest, "malformed-action")
	errBadAction       = cmdError(stanza.BadRequest, "bad-action")
	errBadSession      = cmdError(stanza.BadRequest, "bad-sessionid")
	errExpired         = cmdError(stanza.NotAllowed, "session-expired")
	errNoCommand       = xmppcore.NewError(stanza.ItemNotFound, "no such command")
	errForbidden       = xmppcore.NewError(stanza.Forbidden, "you may not run this command")
)

// Execute answers a command IQ: the payload of the result, or an error
// (a stanza.Error, an *Error, or what a command's Run returned).
func (s *Service) Execute(ctx context.Context, iq Exec) (*xmppcore.Element, error) {
	host := iq.To.Domainpart()
	if !iq.Local || iq.From.Localpart() == "" || iq.From.Domainpart() != host {
		return nil, errForbidden
	}
	p := iq.Payload
	node, action, sid := p.Attr("node"), p.Attr("action"), p.Attr("sessionid")
	switch action {
	case "", "execute", "complete", "next":
	case "cancel", "prev":
	default:
		return nil, errMalformedAction
	}
	cmd := s.command(node)
	if cmd == nil {
		return nil, errNoCommand
	}
	if !allowed(*cmd, host, iq.From) {
		return nil, errForbidden
	}
	req := &Request{From: iq.From, Host: host, Action: action, Form: p.Child(NSData, "x")}
	if req.Action == "" {
		req.Action = "execute"
	}
	if sid == "" {
		if action != "" && action != "execute" {
			return nil, errBadSession
		}
		sid = newSessionID()
	} else {
		sess, err := s.take(sid, iq.From, host, node)
		if err != nil {
			return nil, err
		}
		switch action {
		case "cancel":
			return xmppcore.New(NS, "command", "node", node, "sessionid", sid, "status", "canceled"), nil
		case "prev":
			s.keep(sid, sess)
			return nil, errBadAction
		}
		req.State = sess.state
	}
	resp, err := cmd.Run(ctx, req)
	var se stanza.Error
	if err != nil && req.State != nil && errors.As(err, &se) {
		// A form the requester can correct: the session stays.
		s.keep(sid, &session{owner: iq.From, host: host, node: node, state: req.State})
	}
	if err != nil {
		return nil, err
	}
	out := xmppcore.New(NS, "command", "node", node, "sessionid", sid, "status", "completed")
	if resp.Executing {
		out.SetAttr("status", "executing")
		out.Append(xmppcore.New(NS, "actions", "execute", "complete").Append(xmppcore.New(NS, "complete")))
		state := resp.State
		if state == nil {
			state = struct{}{}
		}
		if !s.keep(sid, &session{owner: iq.From, host: host, node: node, state: state}) {
			return nil, xmppcore.NewError(stanza.ResourceConstraint, "too many command sessions; try again later")
		}
	}
	for _, n := range resp.Notes {
		out.Append(xmppcore.New(NS, "note", "type", n.Type).AppendText(n.Text))
	}
	if resp.Form != nil {
		out.Append(resp.Form)
	}
	return out, nil
}

// take removes and returns a session, checking it belongs to requester
// and to the command.
func (s *Service) take(sid string, owner jid.JID, host, node string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[sid]
	if !ok || time.Now().After(sess.expires) {
		delete(s.sessions, sid)
		return nil, errExpired
	}
	if !sess.owner.Equal(owner) || sess.host != host || sess.node != node {
		return nil, errBadSession
	}
	delete(s.sessions, sid)
	return sess, nil
}

// keep stores a session for its next stage; false when the table is full
// even after dropping expired sessions.
func (s *Service) keep(sid string, sess *session) bool {
	now := time.Now()
	sess.expires = now.Add(SessionTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= MaxSessions {
		for k, v := range s.sessions {
			if now.After(v.expires) {
				delete(s.sessions, k)
			}
		}
		if len(s.sessions) >= MaxSessions {
			return false
		}
	}
	s.sessions[sid] = sess
	return true
}

func newSessionID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
