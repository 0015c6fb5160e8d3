// Package iqrelay lets a module use another module through the protocol
// instead of an import: it routes an IQ under an id of its own and catches
// the answer by that id, either to hand it back to the user who asked (and
// then act on a result) or to absorb the answer to a request the module
// made itself.
//
// It must not know any payload: what the IQs carry is the caller's
// business.
package iqrelay
