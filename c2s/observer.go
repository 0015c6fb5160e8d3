package c2s

import (
	"mellium.im/xmpp/stream"

	"parley.im/parley/xmppcore"
)

// Observer is told what the c2s server does, for metrics. Its methods run
// on the hot path (every stanza in and out): they must be cheap, must not
// block, and must be safe for concurrent use. The strings are constants or
// the stanza's own name: keeping them costs nothing.
type Observer interface {
	// SessionStarted and SessionEnded bracket a bound session; transport
	// is "tcp", or FramedInfo.Transport ("websocket", "bosh").
	SessionStarted(transport string)
	SessionEnded(transport string)
	// StanzaIn counts a stanza from a client, StanzaOut one written to a
	// client; kind is "message", "presence" or "iq".
	StanzaIn(kind string)
	StanzaOut(kind string)
	// Auth counts a SASL exchange that ended, by mechanism.
	Auth(mechanism string, ok bool)
	// QueueDrop counts a session closed because its outbound queue was full.
	QueueDrop()
}

// countOut is told about every element the writer is about to write: the
// observer counts stanzas, stream management keeps them until they are
// acknowledged (and starts counting at its <enabled/>).
func (c *conn) countOut(el *xmppcore.Element) {
	sm := c.sm.Load()
	if !xmppcore.IsStanza(el) {
		if sm != nil && el == sm.enabled {
			sm.mu.Lock()
			sm.counting = true
			sm.mu.Unlock()
		}
		return
	}
	if o := c.srv.deps.Observer; o != nil {
		o.StanzaOut(el.Local)
	}
	if sm != nil && sm.wrote(el) {
		c.srv.log.Warn("too many unacknowledged stanzas; closing the session", "jid", c.jid.String(), "max", sm.max)
		c.Close(stream.ResourceConstraint, "too many unacknowledged stanzas")
	}
}
