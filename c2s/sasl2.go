package c2s

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/xmppcore"
)

// XEP-0388 (SASL2), XEP-0386 (Bind2) and XEP-0484 (FAST) run here, beside
// the classic RFC 6120 SASL and bind of sasl.go and session.go, which keep
// working unchanged. SASL2 is offered only over TLS (XEP-0388 §Security
// Considerations), with the same mechanisms and policy as classic SASL.

// Namespaces of SASL2 and of the features it negotiates inline.
const (
	nsSASL2   = "urn:xmpp:sasl:2"
	nsBind2   = "urn:xmpp:bind:0"
	nsFAST    = "urn:xmpp:fast:0"
	nsSM      = "urn:xmpp:sm:3"
	nsCSI     = "urn:xmpp:csi:0"
	nsCarbons = "urn:xmpp:carbons:2"
	nsMAM     = "urn:xmpp:mam:2"
)

// SASL2Config configures SASL2, Bind2 and FAST.
type SASL2Config struct {
	// Enabled offers SASL2 (and with it Bind2) beside classic SASL.
	Enabled bool
	// FastTokenLifetime is how long a FAST token is valid; 0 turns FAST
	// off. A token used when less than half of it is left is rotated.
	FastTokenLifetime time.Duration
	// Carbons says the carbons module runs, so that Bind2 may enable
	// carbons inline (by routing an XEP-0280 enable IQ for the session).
	Carbons bool
}

// Bounds of the client-supplied strings of <authenticate/>.
const (
	maxAgentID   = 128
	maxAgentText = 256
	maxBindTag   = 64
)

// sasl2Request is a parsed <authenticate/>.
type sasl2Request struct {
	mech     string
	initial  []byte // nil: no initial response
	agentID  string // XEP-0388 user-agent id, "" if none
	software string
	bind     *xmppcore.Element // XEP-0386 <bind/>, nil if none
	fast     *xmppcore.Element // XEP-0484 <fast/>: a token is used
	reqToken string            // XEP-0484 <request-token mechanism=…/>
	resume   *xmppcore.Element // XEP-0198 <resume/>, nil if none
}

// sasl2Offered reports whether this stream offers SASL2.
func (c *conn) sasl2Offered() bool {
	return c.srv.cfg.SASL2.Enabled && c.secure && c.user == ""
}

// fastMechanisms returns the FAST mechanisms of this connection.
func (c *conn) fastMechanisms() []string {
	if c.srv.cfg.SASL2.FastTokenLifetime <= 0 || c.srv.deps.Store == nil {
		return nil
	}
	return auth.HTMechanisms(c.channelBinding())
}

// sasl2Feature is the <authentication/> stream feature.
func (c *conn) sasl2Feature(mechs []string) *xmppcore.Element {
	a := xmppcore.New(nsSASL2, "authentication")
	for _, m := range mechs {
		a.Append(xmppcore.New(nsSASL2, "mechanism").AppendText(m))
	}
	inline := xmppcore.New(nsSASL2, "inline")
	bind := xmppcore.New(nsBind2, "bind")
	if vars := c.bind2InlineFeatures(); len(vars) > 0 {
		bi := xmppcore.New(nsBind2, "inline")
		for _, v := range vars {
			bi.Append(xmppcore.New(nsBind2, "feature", "var", v))
		}
		bind.Append(bi)
	}
	inline.Append(bind)
	inline.Append(xmppcore.New(nsSM, "sm")) // XEP-0198 resumption inline (sm.go)
	if fm := c.fastMechanisms(); len(fm) > 0 {
		f := xmppcore.New(nsFAST, "fast")
		for _, m := range fm {
			f.Append(xmppcore.New(nsFAST, "mechanism").AppendText(m))
		}
		inline.Append(f)
	}
	return a.Append(inline)
}

// parseAuthenticate reads <authenticate/>. Unknown children in other
// namespaces are inline requests of extensions this server does not know,
// and are ignored, as for any extension element.
func parseAuthenticate(el *xmppcore.Element) (*sasl2Request, *auth.Failure) {
	req := &sasl2Request{mech: el.Attr("mechanism")}
	if req.mech == "" {
		return nil, sasl2Malformed("no mechanism")
	}
	seen := map[string]bool{}
	for ch := range el.Children() {
		if known := ch.Space == nsSASL2 || ch.Space == nsBind2 || ch.Space == nsFAST || ch.Space == nsSM; known {
			key := ch.Space + " " + ch.Local
			if seen[key] {
				return nil, sasl2Malformed("repeated " + ch.Local)
			}
			seen[key] = true
		}
		switch {
		case ch.Is(nsSASL2, "initial-response"):
			b, f := decodeSASL2(ch.Text())
			if f != nil {
				return nil, f
			}
			req.initial = b
		case ch.Is(nsSASL2, "user-agent"):
			req.agentID = ch.Attr("id")
			req.software = ch.ChildText(nsSASL2, "software")
			if len(req.agentID) > maxAgentID || !printable(req.agentID) ||
				len(req.software) > maxAgentText || !printable(req.software) ||
				len(ch.ChildText(nsSASL2, "device")) > maxAgentText {
				return nil, sasl2Malformed("bad user-agent")
			}
		case ch.Is(nsBind2, "bind"):
			req.bind = ch
		case ch.Is(nsFAST, "fast"):
			req.fast = ch
		case ch.Is(nsFAST, "request-token"):
			if req.reqToken = ch.Attr("mechanism"); req.reqToken == "" {
				return nil, sasl2Malformed("request-token without mechanism")
			}
		case ch.Is(nsSM, "resume"):
			req.resume = ch
		case ch.Space == nsSASL2:
			return nil, sasl2Malformed("unknown element " + ch.Local)
		}
	}
	return req, nil
}

func sasl2Malformed(cause string) *auth.Failure {
	return &auth.Failure{Condition: auth.ConditionMalformedRequest, Text: "malformed request", Err: errors.New("c2s: SASL2: " + cause)}
}

// printable rejects control characters (and invalid UTF-8), which have no
// business in an id or a software name and would garble logs.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// decodeSASL2 decodes SASL2's base64: white space around or inside is
// tolerated (the XEP's own examples wrap it), an empty element is an empty
// message.
func decodeSASL2(s string) ([]byte, *auth.Failure) {
	s = strings.Join(strings.Fields(s), "")
	if len(s) > 4*auth.MaxMessageLen/3+4 {
		return nil, &auth.Failure{Condition: auth.ConditionMalformedRequest, Text: "message too long"}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &auth.Failure{Condition: auth.ConditionIncorrectEncoding, Text: "invalid base64"}
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// sasl2Result is what a successful mechanism exchange yields.
type sasl2Result struct {
	local      string // normalized localpart
	additional []byte // SASL additional data for <success/>, nil if none
	cbType     string
	fastUsed   *usedToken // the FAST token that authenticated, if any
}

// authenticate2 runs one SASL2 attempt started by <authenticate/>, and the
// inline features on success. bound reports that Bind2 bound a resource
// (the session starts); otherwise the stream goes on negotiating, after a
// failure or with a legacy bind to come. An error ends the stream.
func (c *conn) authenticate2(ctx context.Context, start *xmppcore.Element) (bound bool, err error) {
	if c.user != "" {
		// XEP-0388 §Multiple Authentication: a stream error.
		return false, fail(stream.PolicyViolation, "already authenticated")
	}
	if !c.sasl2Offered() {
		return false, fail(stream.PolicyViolation, "SASL2 is not offered on this stream")
	}
	c.authMech = ""
	log := c.srv.log.With("remote", c.remoteAddr(), "mechanism", start.Attr("mechanism"), "sasl", 2)
	req, f := parseAuthenticate(start)
	if f != nil {
		return c.sasl2Failure(log, "", f)
	}
	mechs := c.mechanisms()
	fastMechs := c.fastMechanisms()
	isFAST := slices.Contains(fastMechs, req.mech)
	if !isFAST && !slices.Contains(mechs, req.mech) {
		return c.sasl2Failure(log, "", &auth.Failure{Condition: auth.ConditionInvalidMechanism, Text: "mechanism not offered"})
	}
	if req.reqToken != "" && !slices.Contains(fastMechs, req.reqToken) {
		return c.sasl2Failure(log, "", &auth.Failure{Condition: auth.ConditionInvalidMechanism, Text: "token mechanism not offered",
			Err: errors.New("c2s: FAST token requested for a mechanism not offered")})
	}
	c.authMech = req.mech
	if lim := c.srv.deps.Limiter; lim != nil && !lim.Allow(c.ip, "") {
		return c.sasl2Failure(log, "", &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Text: "too many failed attempts; try again later"})
	}
	var res sasl2Result
	var claimed string
	if isFAST {
		res, claimed, f = c.fastAuthenticate(ctx, log, req)
	} else {
		res, claimed, f, err = c.sasl2Exchange(ctx, req, mechs)
		if err != nil {
			return false, err
		}
	}
	if f != nil {
		return c.sasl2Failure(log, claimed, f)
	}
	if lim := c.srv.deps.Limiter; lim != nil {
		if !lim.Allow(c.ip, res.local) {
			return c.sasl2Failure(log, res.local, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Text: "too many failed attempts; try again later"})
		}
		lim.Success(c.ip, res.local)
	}
	c.user = res.local
	log = log.With("user", res.local+"@"+c.host)

	// Inline features, in the order XEP-0386 gives: resumption first, then
	// the bind (skipped after a resumption), then what the bind enables.
	succ := xmppcore.New(nsSASL2, "success")
	if res.additional != nil {
		succ.Append(xmppcore.New(nsSASL2, "additional-data").AppendText(base64.StdEncoding.EncodeToString(res.additional)))
	}
	authz := xmppcore.New(nsSASL2, "authorization-identifier")
	succ.Append(authz)
	var extra []*xmppcore.Element
	resumed := false
	if req.resume != nil {
		el, ok, err := c.sasl2Resume(ctx, req.resume)
		if err != nil {
			return false, err
		}
		resumed = ok
		extra = append(extra, el) // <resumed/>, or <failed/> and Bind2 goes on
	}
	if req.bind != nil && !resumed {
		boundEl, bf := c.bind2(ctx, log, req)
		if bf != nil {
			c.user = ""
			return c.sasl2Failure(log, res.local, bf)
		}
		extra = append(extra, boundEl)
		bound = true
	}
	if tok := c.fastAfterSuccess(ctx, log, req, res); tok != nil {
		extra = append(extra, tok)
	}
	switch {
	case resumed:
		authz.AppendText(c.resumeTarget.jid.String())
	case bound:
		authz.AppendText(c.jid.String())
	default:
		authz.AppendText(res.local + "@" + c.host)
	}
	for _, el := range extra {
		succ.Append(el)
	}
	if o := c.srv.deps.Observer; o != nil {
		o.Auth(req.mech, true)
	}
	log.Info("authenticated", "channel_binding", res.cbType, "software", req.software, "bind2", bound, "resumed", resumed)
	if resumed {
		// The resumed session now owns this transport: it writes, and it
		// detaches again if the write fails (as after a classic <resume/>).
		_ = c.resumeTarget.writeSASL2Success(succ, true)
		return true, nil
	}
	if err := c.writeSASL2Success(succ, bound); err != nil {
		if bound {
			// Undo the bind and what it enabled: the session never
			// starts. What was routed to it meanwhile goes to offline
			// storage or is bounced, as for a session that ends.
			c.srv.deps.Router.SessionEnded(ctx, c)
			for el := c.out.pop(); el != nil; el = c.out.pop() {
				if xmppcore.IsStanza(el) {
					c.reroute(ctx, el)
				}
			}
			if c.sm.Load() != nil {
				c.srv.smForget(c)
			}
		}
		return false, err
	}
	return bound, nil
}

// sasl2Exchange runs a SCRAM or PLAIN exchange in SASL2's elements.
// claimed is the username the client gave (for throttling and logs).
func (c *conn) sasl2Exchange(ctx context.Context, req *sasl2Request, mechs []string) (res sasl2Result, claimed string, f *auth.Failure, err error) {
	// XEP-0474: the list hashed is SASL2's, the one this client saw.
	ex, xerr := c.newExchange(req.mech, mechs)
	if xerr != nil {
		return res, "", asFailure(xerr), nil
	}
	in := req.initial
	for {
		out, done, serr := ex.Step(ctx, in)
		if serr != nil {
			if errors.Is(serr, auth.ErrChannelBindingType) {
				c.triedPlus = true
			}
			return res, ex.ClaimedUsername(), asFailure(serr), nil
		}
		if done {
			local, nerr := normalizeUsername(ex.Username(), c.host)
			if nerr != nil {
				return res, ex.Username(), &auth.Failure{Condition: auth.ConditionNotAuthorized, Text: "authentication failed", Err: nerr}, nil
			}
			return sasl2Result{local: local, additional: out, cbType: ex.ChannelBindingType()}, local, nil, nil
		}
		ch := xmppcore.New(nsSASL2, "challenge").AppendText(base64.StdEncoding.EncodeToString(out))
		if err := c.writeElement(ch); err != nil {
			return res, "", nil, err
		}
		next, err := c.next()
		if err != nil {
			return res, "", nil, err
		}
		switch {
		case next.Is(nsSASL2, "response"):
			if in, f = decodeSASL2(next.Text()); f != nil {
				return res, ex.ClaimedUsername(), f, nil
			}
		case next.Is(nsSASL2, "abort"):
			return res, ex.ClaimedUsername(), &auth.Failure{Condition: auth.ConditionAborted}, nil
		default:
			// XEP-0388 §During Authentication: anything else disconnects.
			return res, "", nil, fail(stream.PolicyViolation, "unexpected %s during SASL2", next.Local)
		}
	}
}

// advertisedCB returns the channel-binding types the stream advertised
// with XEP-0440 (appendFeatures lists them when there are any), nil when
// it did not use XEP-0440.
func advertisedCB(cb *auth.ChannelBinding) []string {
	if t := cb.Types(); len(t) > 0 {
		return t
	}
	return nil
}

func asFailure(err error) *auth.Failure {
	var f *auth.Failure
	if errors.As(err, &f) {
		return f
	}
	return &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Err: err}
}

// writeSASL2Success writes <success/> and, with no stream restart, the
// features of the authenticated stream: those of a bound session when
// Bind2 (or a resumption) already bound it, otherwise bind's.
func (c *conn) writeSASL2Success(succ *xmppcore.Element, bound bool) error {
	var feat []byte
	if bound {
		feat = append(feat, "<stream:features>"...)
		if c.sm.Load() == nil {
			// Not enabled inline: the client may still enable it.
			feat = xmppcore.New(nsSM, "sm").AppendXML(feat, xmppcore.NSClient)
		}
		if extra := c.srv.deps.PostAuthFeatures; extra != nil {
			for _, el := range extra() {
				feat = el.AppendXML(feat, xmppcore.NSClient)
			}
		}
		feat = append(feat, "</stream:features>"...)
	} else {
		feat = c.appendFeatures(nil)
	}
	if c.fc != nil {
		return c.writeFrames(appendFrame(nil, succ), insertAt(feat, len("<stream:features"), nsStreamDecl))
	}
	b := succ.AppendXML(nil, xmppcore.NSClient)
	return c.write(append(b, feat...))
}

// sasl2Failure sends SASL2's <failure/> and counts the attempt as classic
// SASL does (saslFailure): throttling for a wrong password, the stream's
// end past the attempt limit.
func (c *conn) sasl2Failure(log interface{ Info(string, ...any) }, claimed string, f *auth.Failure) (bool, error) {
	log.Info("authentication failed", "condition", f.Condition, "user", claimed, "err", f.Err)
	c.observeAuthFailure()
	el := xmppcore.New(nsSASL2, "failure").Append(xmppcore.New(xmppcore.NSSASL, f.Condition))
	if f.Text != "" {
		el.Append(xmppcore.New(nsSASL2, "text").AppendText(f.Text))
	}
	if errors.Is(f.Err, auth.ErrChannelBindingType) {
		// As in saslFailure: the client tries its next mechanism.
		return false, c.writeElement(el)
	}
	if lim := c.srv.deps.Limiter; lim != nil && f.Condition == auth.ConditionNotAuthorized {
		local, nerr := normalizeUsername(claimed, c.host)
		if nerr != nil {
			local = ""
		}
		lim.Failure(c.ip, local)
	}
	if err := c.writeElement(el); err != nil {
		return false, err
	}
	c.authFails++
	if c.authFails >= c.srv.cfg.MaxAuthAttempts {
		return false, fail(stream.PolicyViolation, "too many failed authentication attempts")
	}
	return false, nil
}

// parseCount reads XEP-0484's count attribute: absent is 0.
func parseCount(s string) (uint64, bool) {
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(s, 10, 63)
	return n, err == nil && n > 0
}
