package c2s

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// authenticate runs one SASL exchange started by <auth/>. It returns true
// on success; a failed attempt returns false and no error unless the
// client ran out of attempts, which ends the stream.
func (c *conn) authenticate(ctx context.Context, start *xmppcore.Element) (bool, error) {
	mech := start.Attr("mechanism")
	c.authMech = "" // named to the Observer only once known to be offered
	log := c.srv.log.With("remote", c.remoteAddr(), "mechanism", mech)
	offered := c.mechanisms()
	if !c.secure && (c.srv.cfg.RequireTLS || mech == auth.PLAIN && c.srv.cfg.AllowPlain) {
		// PLAIN is never offered in plain text, but it would be with TLS:
		// say so rather than invalid-mechanism (RFC 6120 §6.5.4).
		return c.saslFailure(log, "", &auth.Failure{Condition: "encryption-required"})
	}
	if !slices.Contains(offered, mech) {
		return c.saslFailure(log, "", &auth.Failure{Condition: "invalid-mechanism"})
	}
	c.authMech = mech
	if lim := c.srv.deps.Limiter; lim != nil && !lim.Allow(c.ip, "") {
		return c.saslFailure(log, "", &auth.Failure{Condition: "temporary-auth-failure", Text: "too many failed attempts; try again later"})
	}
	ex, err := c.newExchange(mech, offered)
	if err != nil {
		return c.saslFailure(log, "", err)
	}
	in, err := decodeSASL(start.Text())
	if err != nil {
		return c.saslFailure(log, "", err)
	}
	for {
		out, done, err := ex.Step(ctx, in)
		if err != nil {
			return c.saslFailure(log, ex.ClaimedUsername(), err)
		}
		if done {
			return c.saslSuccess(log, ex, out)
		}
		ch := xmppcore.New(xmppcore.NSSASL, "challenge").AppendText(base64.StdEncoding.EncodeToString(out))
		if err := c.writeElement(ch); err != nil {
			return false, err
		}
		next, err := c.next()
		if err != nil {
			return false, err
		}
		switch {
		case next.Is(xmppcore.NSSASL, "response"):
			if in, err = decodeSASL(next.Text()); err != nil {
				return c.saslFailure(log, ex.ClaimedUsername(), err)
			}
		case next.Is(xmppcore.NSSASL, "abort"):
			return c.saslFailure(log, ex.ClaimedUsername(), &auth.Failure{Condition: "aborted"})
		default:
			return false, fail(stream.PolicyViolation, "unexpected %s during SASL", next.Local)
		}
	}
}

func isPlus(m string) bool { return len(m) > 5 && m[len(m)-5:] == "-PLUS" }

// decodeSASL decodes a SASL payload: "=" is an empty message (RFC 6120
// §6.4.2), anything not base64 is incorrect-encoding.
func decodeSASL(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if s == "=" {
		return []byte{}, nil
	}
	if len(s) > 4*auth.MaxMessageLen/3+4 {
		return nil, &auth.Failure{Condition: "malformed-request", Text: "message too long"}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, &auth.Failure{Condition: "incorrect-encoding"}
	}
	return b, nil
}

func (c *conn) saslSuccess(log interface{ Info(string, ...any) }, ex *auth.Exchange, additional []byte) (bool, error) {
	local, err := normalizeUsername(ex.Username(), c.host)
	if err != nil {
		return c.saslFailure(c.srv.log, ex.Username(), &auth.Failure{Condition: "not-authorized"})
	}
	if lim := c.srv.deps.Limiter; lim != nil {
		// A locked account is refused even with the right password, so that
		// guessing cannot go on behind the throttle.
		if !lim.Allow(c.ip, local) {
			return c.saslFailure(c.srv.log, local, &auth.Failure{Condition: "temporary-auth-failure", Text: "too many failed attempts; try again later"})
		}
		lim.Success(c.ip, local)
	}
	succ := xmppcore.New(xmppcore.NSSASL, "success")
	if len(additional) > 0 {
		succ.AppendText(base64.StdEncoding.EncodeToString(additional))
	}
	if err := c.writeElement(succ); err != nil {
		return false, err
	}
	c.user = local
	if o := c.srv.deps.Observer; o != nil {
		o.Auth(ex.Mechanism(), true)
	}
	log.Info("authenticated", "user", local+"@"+c.host, "channel_binding", ex.ChannelBindingType())
	return true, nil
}

// saslFailure sends <failure/> and counts the attempt; past the limit the
// stream ends with policy-violation (RFC 6120 §6.4.5).
func (c *conn) saslFailure(log interface{ Info(string, ...any) }, claimed string, err error) (bool, error) {
	var f *auth.Failure
	if !errors.As(err, &f) {
		f = &auth.Failure{Condition: "temporary-auth-failure", Err: err}
	}
	log.Info("authentication failed", "condition", f.Condition, "user", claimed, "err", f.Err)
	c.observeAuthFailure()
	if errors.Is(f.Err, auth.ErrChannelBindingType) {
		// Not a password failure, and the client will try its next
		// mechanism: count it neither as an attempt nor for throttling.
		// The negotiation timeout still bounds the retries.
		c.triedPlus = true
		return false, c.writeElement(saslFailureElement(f))
	}
	if lim := c.srv.deps.Limiter; lim != nil && f.Condition == "not-authorized" {
		local, nerr := normalizeUsername(claimed, c.host)
		if nerr != nil {
			local = ""
		}
		lim.Failure(c.ip, local)
	}
	if werr := c.writeElement(saslFailureElement(f)); werr != nil {
		return false, werr
	}
	c.authFails++
	if c.authFails >= c.srv.cfg.MaxAuthAttempts {
		return false, fail(stream.PolicyViolation, "too many failed authentication attempts")
	}
	return false, nil
}

// normalizeUsername applies the JID localpart profile (RFC 7622), so that
// "Alice" and "alice" are one account.
func normalizeUsername(username, host string) (string, error) {
	j, err := jid.New(username, host, "")
	if err != nil {
		return "", err
	}
	if j.Localpart() == "" {
		return "", errors.New("empty username")
	}
	return j.Localpart(), nil
}

func (c *conn) lookupCredentials(ctx context.Context, username string) ([]storage.Credential, error) {
	local, err := normalizeUsername(username, c.host)
	if err != nil {
		return nil, storage.ErrNotFound
	}
	acct, err := c.srv.deps.Store.Account(ctx, c.host, local)
	if err != nil {
		return nil, err
	}
	return acct.Credentials, nil
}

func saslFailureElement(f *auth.Failure) *xmppcore.Element {
	el := xmppcore.New(xmppcore.NSSASL, "failure").Append(xmppcore.New(xmppcore.NSSASL, f.Condition))
	if f.Text != "" {
		el.Append(xmppcore.New(xmppcore.NSSASL, "text").AppendText(f.Text))
	}
	return el
}

// newExchange starts a SASL exchange of mech on this stream, SASL's or
// SASL2's; offered is the mechanism list this client saw, which XEP-0474
// hashes with the XEP-0440 channel binding types the stream showed.
func (c *conn) newExchange(mech string, offered []string) (*auth.Exchange, error) {
	cb := c.channelBinding()
	return auth.NewExchange(mech, auth.Config{
		Lookup:    c.lookupCredentials,
		Host:      c.host,
		CB:        cb,
		TLSActive: c.secure,
		// A client that already tried a -PLUS mechanism on this stream saw
		// the list: its "y" after a binding-type failure is no downgrade.
		AdvertisedPlus: slices.ContainsFunc(offered, isPlus) && !c.triedPlus,
		FakeSaltKey:    c.srv.cfg.FakeSaltKey,
		FakeIterations: c.srv.cfg.ScramIterations,
		Offered:        offered,
		Downgrade:      &auth.DowngradeProtection{Mechanisms: offered, ChannelBindings: advertisedCB(cb)},
	})
}

// observeAuthFailure counts a failed authentication for the observer, under
// the mechanism tried ("none" before one was).
func (c *conn) observeAuthFailure() {
	if o := c.srv.deps.Observer; o != nil {
		mech := c.authMech
		if mech == "" {
			mech = "none"
		}
		o.Auth(mech, false)
	}
}
