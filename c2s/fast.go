package c2s

import (
	"context"
	"errors"
	"time"

	"parley.im/parley/auth"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// XEP-0484 FAST. Tokens are stored hashed (storage.FastToken.Key), bound
// to the account, the client's user-agent id and the mechanism they were
// issued for. The XEP's two slots are the storage's unused ("new") and used
// ("current") tokens: the new one is tried first; using it retires every
// older token of the client. Go's crypto/tls accepts no TLS 0-RTT data, so
// 'tls-0rtt' is never advertised; a 'count' the client sends anyway is
// still checked and recorded, and one not above the last is a replay.

// usedToken is the token that authenticated a FAST login.
type usedToken struct {
	key       []byte
	mechanism string
	expires   time.Time
}

func fastFailure(cond, cause string) *auth.Failure {
	text := "authentication failed"
	if cond == auth.ConditionCredentialsExpired {
		text = "token expired"
	}
	return &auth.Failure{Condition: cond, Text: text, Err: errors.New("c2s: FAST: " + cause)}
}

// fastAuthenticate checks an HT-* login against the client's tokens. The
// failure says credentials-expired for an expired token (the XEP's
// condition for a token no longer trusted) and not-authorized otherwise;
// the log line says which.
func (c *conn) fastAuthenticate(ctx context.Context, log interface{ Info(string, ...any) }, req *sasl2Request) (res sasl2Result, claimed string, f *auth.Failure) {
	if req.initial == nil {
		return res, "", sasl2Malformed("FAST without initial response")
	}
	ht, err := auth.ParseHT(req.mech, c.channelBinding(), req.initial)
	if err != nil {
		return res, "", asFailure(err)
	}
	claimed = ht.Username()
	if req.agentID == "" {
		return res, claimed, fastFailure(auth.ConditionNotAuthorized, "no user-agent id")
	}
	count, ok := parseCount(req.fastAttr("count"))
	if !ok {
		return res, claimed, sasl2Malformed("bad FAST count")
	}
	local, err := normalizeUsername(claimed, c.host)
	if err != nil {
		return res, claimed, fastFailure(auth.ConditionNotAuthorized, "invalid username")
	}
	toks, err := c.srv.deps.Store.FastTokens(ctx, c.host, local, req.agentID)
	if err != nil {
		return res, claimed, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Text: "authentication temporarily unavailable", Err: err}
	}
	var match *storage.FastToken
	for _, used := range []bool{false, true} { // the new slot first
		for i := range toks {
			if toks[i].Used == used && ht.Verify(toks[i].Key) && match == nil {
				match = &toks[i]
			}
		}
	}
	switch {
	case match == nil:
		log.Info("FAST token refused: unknown, invalidated or rotated out", "user", local+"@"+c.host)
		return res, local, fastFailure(auth.ConditionNotAuthorized, "no such token")
	case match.Mechanism != req.mech:
		log.Info("FAST token refused: issued for another mechanism", "user", local+"@"+c.host, "token_mechanism", match.Mechanism)
		return res, local, fastFailure(auth.ConditionNotAuthorized, "token used with another mechanism")
	case !time.Now().Before(match.Expires):
		log.Info("FAST token refused: expired", "user", local+"@"+c.host, "expired", match.Expires)
		return res, local, fastFailure(auth.ConditionCredentialsExpired, "token expired")
	}
	switch err := c.srv.deps.Store.UseFastToken(ctx, c.host, local, req.agentID, match.Key, count); {
	case errors.Is(err, storage.ErrConflict):
		log.Info("FAST token refused: replayed (count not above the last one accepted)", "user", local+"@"+c.host, "count", count)
		return res, local, fastFailure(auth.ConditionNotAuthorized, "replayed count")
	case errors.Is(err, storage.ErrNotFound):
		log.Info("FAST token refused: invalidated meanwhile", "user", local+"@"+c.host)
		return res, local, fastFailure(auth.ConditionNotAuthorized, "token gone")
	case err != nil:
		return res, local, &auth.Failure{Condition: auth.ConditionTemporaryAuthFailure, Text: "authentication temporarily unavailable", Err: err}
	}
	return sasl2Result{
		local:      local,
		additional: ht.ServerProof(match.Key),
		fastUsed:   &usedToken{key: match.Key, mechanism: match.Mechanism, expires: match.Expires},
	}, local, nil
}

// fastAfterSuccess invalidates, rotates or issues tokens once the client
// is authenticated, and returns the <token/> for <success/>, if any. A
// storage failure here costs the client only its new token: it is logged
// and the login goes on.
func (c *conn) fastAfterSuccess(ctx context.Context, log interface{ Info(string, ...any) }, req *sasl2Request, res sasl2Result) *xmppcore.Element {
	lifetime := c.srv.cfg.SASL2.FastTokenLifetime
	if lifetime <= 0 || req.agentID == "" {
		if req.reqToken != "" {
			log.Info("FAST token not issued: the client sent no user-agent id")
		}
		return nil
	}
	mech := req.reqToken
	if used := res.fastUsed; used != nil {
		if invalidate := req.fastAttr("invalidate"); invalidate == "true" || invalidate == "1" {
			if err := c.srv.deps.Store.DeleteFastTokens(ctx, c.host, res.local, req.agentID); err != nil {
				log.Info("FAST token invalidation failed", "err", err)
			} else {
				log.Info("FAST tokens invalidated at the client's request")
			}
		} else if mech == "" && time.Until(used.expires) < lifetime/2 {
			mech = used.mechanism // due for rotation
		}
	}
	if mech == "" {
		return nil
	}
	token, key := auth.NewToken()
	expires := time.Now().Add(lifetime).UTC().Truncate(time.Second)
	err := c.srv.deps.Store.AddFastToken(ctx, storage.FastToken{Host: c.host, Username: res.local, AgentID: req.agentID,
		Key: key, Mechanism: mech, Expires: expires})
	if err != nil {
		log.Info("FAST token not issued: storage failed", "err", err)
		return nil
	}
	log.Info("FAST token issued", "token_mechanism", mech, "expires", expires)
	return xmppcore.New(nsFAST, "token", "expiry", expires.Format(time.RFC3339), "token", token)
}

// fastAttr returns an attribute of the request's <fast/>; the XEP wants
// the element with every token login, but its absence is taken as an
// element without attributes.
func (r *sasl2Request) fastAttr(name string) string {
	if r.fast == nil {
		return ""
	}
	return r.fast.Attr(name)
}
