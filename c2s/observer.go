package c2s

import "parley.im/parley/xmppcore"

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

// countOut tells the observer about an element being written, if it is a
// stanza.
func (c *conn) countOut(el *xmppcore.Element) {
	if o := c.srv.deps.Observer; o != nil && xmppcore.IsStanza(el) {
		o.StanzaOut(el.Local)
	}
}
