// Package web is Parley's one HTTP server: plain HTTP (for a reverse proxy
// in front, or the local web chat) and HTTPS with the hosts' certificates
// chosen by SNI, on the [web] addresses. It serves
//
//   - XMPP over WebSocket (RFC 7395) at /xmpp-websocket: it checks the
//     request (the xmpp subprotocol, the Origin, the per-address limit),
//     upgrades it with github.com/coder/websocket, and hands the connection
//     to c2s.Server.ServeFramed as a c2s.FramedConn (one text message per
//     element both ways, WebSocket ping/pong keepalive). Negotiation,
//     limits and the session itself are c2s's;
//   - connection discovery (XEP-0156): /.well-known/host-meta and
//     host-meta.json, with CORS;
//   - /healthz (storage ping) and /metrics (Prometheus: Metrics, which is
//     also the c2s.Observer, and TimedStore, the storage latency wrapper);
//   - the built-in web chat: Converse.js from web.chat.dir at / and /chat,
//     under a Content-Security-Policy that allows nothing from elsewhere.
//
// Other packages' endpoints are mounted by server through
// Options.Handlers or Server.Handle: BOSH (package web/bosh) at BOSHPath
// ("/http-bind"), which host-meta then announces, and HTTP file upload
// (package upload) under its own path. Handlers that hold requests open
// register with OnShutdown to be released when the server stops.
//
// Client addresses come from X-Forwarded-For only when the peer is in
// web.trusted_proxies; the rule, and what counts as secure, is package
// webclient's (webclient.Of), which web/bosh applies too.
//
// web must not import modules (it is in the tier of c2s's users and must not
// know any IQ payload) nor parse XMPP itself: every byte of a stream goes to
// c2s. Shutdown stops HTTP; WebSocket sessions are ended by c2s.Shutdown,
// which server calls after it.
package web
