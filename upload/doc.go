// Package upload is XEP-0363 HTTP File Upload (urn:xmpp:http:upload:0): a
// service on <subdomain>.<host> (upload.<host> by default), registered with
// the router as the component of that domain and listed in the server's
// disco#items, and the http.Handler that serves its PUT and GET URLs, which
// server mounts on the web server (under /upload/).
//
// # Slots
//
// A local user asks the service for a slot with the file's name, size and
// optional content type. The request is checked against Options.MaxFileSize
// (not-acceptable with <file-too-large/> and the maximum), the name
// (not-acceptable: see validName), the type (bad-request unless it parses as
// a media type), the user's pending slots (Options.MaxPendingSlots) and the
// user's quota. The answer is a PUT URL and a GET URL:
//
//	PUT <base>/<id>/<name>?e=<expiry>&s=<signature>
//	GET <base>/<id>/<name>
//
// id is 26 random base32 characters chosen by the server. The signature is an
// HMAC-SHA256, keyed from the server's secret, over the id, name, size,
// content type and expiry. The slot is kept in memory until it is used or
// Options.SlotTimeout passes: a PUT for a slot that is not pending (never
// issued, already used, expired, or issued before a restart) or with a bad
// signature gets 403. A PUT whose Content-Length is larger than the slot
// gets 413, smaller or with another Content-Type 400. A slot is used once:
// the first PUT that stores the whole file consumes it; a PUT that fails
// half-way gives it back until it expires.
//
// # Quota
//
// Options.Quota bounds the bytes one user (bare JID) has stored and pending
// at any time. Files are deleted Options.Expiry after their upload, so with
// an expiry the quota is what a user may upload over that window. A request
// over the quota gets resource-constraint (type wait) with a <retry/> stamp
// at which enough of the user's files expire for it to fit, when that time
// is known.
//
// # Storage
//
// Each file lives in <dir>/<id>/ as "data" and "meta.json" (owner, name,
// type, size, time); the index of files is rebuilt from those at Start, and
// a directory without a readable meta.json (a crash during an upload) is
// removed. Paths are built only from the directory, a server-generated id
// checked against its alphabet, and the two fixed names: the user's file
// name is metadata, never a path, so no request can read or write outside
// the directory. A sweep every Options.SweepInterval deletes expired files.
// Logs show only the first characters of an id: the whole id is what makes
// a GET URL hard to guess.
//
// # HTTP
//
// GET and HEAD go through http.ServeContent (Range, If-None-Match,
// If-Modified-Since), with the stored type, an ETag, Last-Modified, caching
// headers, nosniff, a sandboxing Content-Security-Policy, and
// Content-Disposition: attachment for every type that is not known to be
// inert in a browser (only images, audio, video, PDF and plain text are
// inline). Every answer carries CORS headers allowing any origin (the URLs
// are the credentials; no cookies are used), and OPTIONS answers preflights.
// At most Options.MaxConcurrent requests are served at once; more get 503.
//
// The package must not import other modules nor the web server: server
// mounts Handler where the web server says.
package upload
