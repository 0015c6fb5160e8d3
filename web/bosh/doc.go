// Package bosh is the BOSH connection manager (XEP-0124, with XEP-0206 for
// XMPP): the http.Handler of /http-bind, which server mounts on the web
// server (web.BOSHPath).
//
// A BOSH session is one c2s.FramedConn, run by c2s.Server.ServeFramed like a
// WebSocket connection, so negotiation, limits and the session itself are
// c2s's. The handler only translates:
//
//   - a session creation request becomes the RFC 7395 <open/> frame (with
//     its 'to' and xml:lang), and so does a request with
//     xmpp:restart='true';
//   - each child of a request's <body/> becomes one frame, in rid order;
//     type='terminate' adds <close/> after them;
//   - the frames c2s writes wait in the session until a held request
//     carries them: the server's <open/> gives the creation response its
//     authid and from, and is not forwarded; a stream error or <close/>
//     ends the session with remote-stream-error (the error included) or a
//     plain type='terminate'.
//
// # Requests
//
// Requests are processed in rid order: one that comes ahead of a missing
// rid waits (in the window of 'requests' = hold+1) until the gap fills, or
// gets a recoverable type='error' when 'wait' runs out first. The
// responses of the last 'requests' rids are kept, so a repeated rid (a
// response lost in flight) gets the same bytes again; a repeated rid still
// held answers the older copy with type='error'; a rid outside the window,
// or too old to be kept, ends the session with item-not-found. The oldest
// held request carries everything waiting; those beyond 'hold' are answered
// empty; 'wait' ends with an empty body. With no request held for
// 'inactivity' (or the 'pause' the client asked for, up to 'maxpause') the
// session ends. A polling session (hold 0) whose empty requests come
// faster than 'polling', the previous answer empty too, breaks the rules
// (policy-violation), as does a pause beyond maxpause or a body larger
// than four frames.
//
// Key sequencing (§15), multiple streams (§16) and the 'report' attribute
// of acknowledgements are not offered.
//
// # Concurrency
//
// Each request is its HTTP handler's goroutine, blocked until its answer is
// put on its own buffered channel. A session's state is behind one mutex,
// which is a leaf: the handler's mutex (the session table) is never taken
// while it is held. ReadFrame waits on a condition variable of that mutex.
//
// bosh must not parse XMPP beyond splitting a body into elements, nor import
// modules or package web: whatever it needs from the web server (the
// client's address, whether the request was secure) comes through Config.
package bosh
