package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration, located for a human:
//
//	config.toml:12: c2s.idle_timeout: must be at least 1s, got "0s"
//
// Load and Validate return either a single *Error or several joined with
// errors.Join (one per line); use errors.As to get at the fields.
type Error struct {
	File string // "" when the configuration did not come from a file
	Line int    // 1-based; 0 when the key is not in the file (a default value)
	Key  string // dotted key path such as "host[0].cert"; "" for syntax errors
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File == "":
		b.WriteString("(default)")
	case e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line))
	default:
		b.WriteString(e.File + " (default)")
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// errorList collects problems so that one run reports all of them.
type errorList []*Error

// err returns nil, the only error, or all of them joined, sorted by line so
// the output reads like the file.
func (l errorList) err() error {
	if len(l) == 0 {
		return nil
	}
	slices.SortStableFunc(l, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	if len(l) == 1 {
		return l[0]
	}
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// line finds where key is set. A key missing from the file inside a [[host]]
// element is reported at that element's header: the element exists, only
// the key was left out. Elsewhere a missing key holds its default value.
func (c *Config) line(key string) int {
	for key != "" {
		if n, ok := c.lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
		if !strings.HasSuffix(key, "]") {
			return 0
		}
	}
	return 0
}

// at builds an error for key, located where the file sets key or, failing
// that, one of the related keys: a missing postgres dsn is best reported
// where the backend was switched to postgres. Only then does it fall back to
// the enclosing [[host]] header.
func (c *Config) at(key string, related []string, format string, args ...any) *Error {
	n, ok := c.lines[key]
	for _, r := range related {
		if ok {
			break
		}
		n, ok = c.lines[r]
	}
	if !ok {
		n = c.line(key)
	}
	return &Error{File: c.source, Line: n, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// lineNote is " (line N)" when key is in the file, for messages that point
// at a second place.
func (c *Config) lineNote(key string) string {
	if n := c.line(key); n > 0 {
		return fmt.Sprintf(" (line %d)", n)
	}
	return ""
}
