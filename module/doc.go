// Package module is how features plug into the server: the Module
// interface, and the Registry through which a module declares, in one
// Register call, everything it provides — IQ handlers by payload namespace,
// routing hooks, disco features and identities, stream features — all of
// which is undone automatically when the module stops.
//
// The registry turns IQs addressed to the server (Server target) or to a
// user's bare JID (Account target) into calls of the registered handler and
// routes back the result or the stanza error; an unregistered payload gets
// service-unavailable. A panicking handler answers internal-server-error.
//
// A module package imports module, router, storage and xmppcore, never
// another module package: modules meet through the router, hooks and
// storage. This package must not know any XEP itself.
package module
