// Package server is the composition root: from a validated configuration it
// opens storage, loads certificates, builds the router, the module registry
// and its modules, and the listeners, starts them in that order and stops
// them in reverse.
//
// It holds no protocol logic of its own: anything a stanza does happens in
// c2s, router or a module. It must not be imported by any package but cmd.
package server
