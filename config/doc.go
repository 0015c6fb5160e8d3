// Package config owns Parley's configuration: the TOML schema (the Config
// struct and its tags), the defaults for a first run without a file, strict
// loading, and every semantic check on the values.
//
// Load refuses anything it does not understand rather than guessing: unknown
// keys, values of the wrong type and out-of-range values are errors, each
// naming the file, the line and the key (see Error), so that a typo never
// silently becomes a default. config.toml.example at the repository root
// documents every key and is tested to load and to cover the whole schema.
//
// This package must stay a leaf: it never opens network connections or
// storage, never creates files or directories, and never parses
// certificates (package certs does; Validate only checks that configured
// files can be opened). It must not log: callers decide what to print, and
// the postgres DSN, which may hold a password, never appears in its messages.
package config
