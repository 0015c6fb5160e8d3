// Package auth is the server side of SASL authentication for Parley's
// client-to-server streams.
//
// It owns:
//
//   - deriving the SCRAM credentials kept for a password (DeriveCredentials)
//     and checking a password against them (VerifyPassword);
//   - describing the channel bindings a TLS connection offers
//     (ChannelBinding, RFC 5929 tls-server-end-point and RFC 9266
//     tls-exporter) and the mechanisms to advertise (Mechanisms);
//   - running one authentication attempt (Exchange) for PLAIN (RFC 4616)
//     and SCRAM-SHA-1/-256/-512 with and without -PLUS (RFC 5802,
//     RFC 7677), reporting failures as RFC 6120 §6.5 conditions (Failure);
//   - throttling failed logins per account and per IP address (Limiter);
//   - XEP-0474 downgrade protection: the SSDP hash of the advertised
//     mechanisms and channel-binding types, sent by SCRAM as the "h"
//     attribute of its server-first-message (DowngradeProtection);
//   - the HT-SHA-256-NONE/-ENDP/-EXPR/-UNIQ mechanisms of XEP-0484 FAST
//     (ParseHT, HT.Verify) and the making of tokens (NewToken), of which
//     only the SHA-256 hash is ever kept (TokenKey). Which token a client
//     holds, its expiry and rotation belong to the caller.
//
// It must not:
//
//   - log, or put in an error or a Failure, any password, salted password,
//     key, proof, signature, salt or nonce;
//   - tell a client, by message or by the shape of the exchange, whether an
//     account exists: unknown users get a deterministic fake salt and fail
//     only at the end, like a wrong password;
//   - do any I/O other than calling the CredentialLookup it is given. The
//     XML stream, base64 transport encoding and storage belong to the
//     caller.
//
// Usernames are passed to the lookup exactly as the client sent them (after
// SCRAM's "=2C"/"=3D" unescaping); normalizing them (PRECIS
// UsernameCaseMapped) is the lookup's job, so that there is exactly one
// place where it happens.
package auth
