// Package extdisco implements XEP-0215 (External Service Discovery) for the
// server's users: it lists the STUN and TURN servers of the configuration
// and hands out time-limited TURN credentials, so that audio and video
// calls can traverse NATs.
//
// Credentials follow the coturn REST scheme ("TURN REST API",
// draft-uberti-behave-turn-rest-00), which coturn checks with
// use-auth-secret and static-auth-secret: the username is
// "<expiry Unix time>:<user's bare JID>" and the password is
// base64(HMAC-SHA1(secret, username)). The server never talks to the TURN
// server; both only share the secret.
//
// Only the server's own users get an answer (IQs to the host from a local
// session): anyone else gets forbidden, since credentials let their holder
// relay traffic through the operator's TURN server. A <services/> request
// lists every service (or those of one type); restricted services carry
// credentials with their expiry, as Prosody and ejabberd do, so a client
// needs no second round trip. A <credentials/> request names a service by
// host and type (and port when several match) and gets fresh credentials
// for it; an unknown service is item-not-found, one without credentials
// (not restricted) is not-acceptable.
//
// Services pushes (XEP-0215 §3.2, IQ sets when the list changes) are not
// sent: the list changes only with the configuration, at restart.
//
// The package must not log or return secrets: only the derived password
// leaves it, to the user who asked.
package extdisco
