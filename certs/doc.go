// Package certs owns the server's TLS certificates: one per virtual host,
// loaded from the PEM files the configuration names or, for hosts without
// any, a self-signed certificate it generates once under the data directory
// and reuses until it is due for renewal. It serves them by SNI
// (Manager.GetCertificate), builds the base server tls.Config, swaps in
// re-read files on Reload (SIGHUP) and reports problems for `parley check`.
//
// Every certificate it hands out has Leaf set: the c2s layer needs the leaf
// for tls-server-end-point channel binding.
//
// It takes an already loaded and validated *config.Config and never reads
// the configuration file itself. It never logs or returns key material;
// errors name files, not their contents. It does not listen or dial: ALPN,
// STARTTLS and everything else about connections belong to their callers.
package certs
