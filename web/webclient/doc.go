// Package webclient is the one rule the HTTP front ends (web and web/bosh)
// apply to a request's origin: which address the client has, how it
// addressed the server, and whether its connection counts as secure, with
// X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host believed only
// from web.trusted_proxies.
//
// It sits below both front ends so that neither imports the other, and it
// imports no Parley package: it reads requests and nothing else. It holds
// no state; the caller parses the trusted prefixes once (ParsePrefixes) and
// passes them in.
package webclient
