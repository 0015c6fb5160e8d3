// Package routertest holds test doubles for the router: a Session that
// records what it is sent, a Remote and a Component that record what they
// are given, and helpers to build stanzas from XML text and to compare
// elements regardless of attribute order and indentation.
//
// It imports router, so router's own tests can use it only from an external
// test package (package router_test); module's in-package tests can use it
// freely, since this package must never import module.
package routertest
