package config

import (
	"strconv"
	"strings"
)

// BurntSushi/toml v1.6 records key positions only privately (MetaData has no
// position accessor, and for [[arrays]] it keeps just the last element's
// line), so error messages find their lines with this small scanner. It runs
// only on input the TOML parser has already accepted, so it need not report
// syntax errors; it must merely never panic or loop on odd input.

// lineIndex maps a key path, as built by joinKey and indexKey, to the 1-based
// line that defines it: "log.level", "host[1].cert", "c2s.starttls[0]".
type lineIndex map[string]int

// joinKey appends one key segment, quoting it when it is not a bare key so
// that paths stay unambiguous.
func joinKey(parent, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexKey addresses one element of an array or array of tables.
func indexKey(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareByte(s[i]) {
			return false
		}
	}
	return true
}

func isBareByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// scanLines indexes every table header, key and array element of src.
func scanLines(src string) lineIndex {
	s := &lineScanner{src: src, line: 1, idx: lineIndex{}, arrays: map[string]int{}}
	s.document()
	return s.idx
}

type lineScanner struct {
	src    string
	pos    int
	line   int
	idx    lineIndex
	arrays map[string]int // array-of-tables path -> elements seen so far
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

func (s *lineScanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.pos]
}

func (s *lineScanner) next() {
	if s.eof() {
		return
	}
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

// record keeps the first definition; explicit headers use set instead so that
// "[a]" after an implicit "[a.b]" points at its own line.
func (s *lineScanner) record(path string) {
	if _, ok := s.idx[path]; !ok {
		s.idx[path] = s.line
	}
}

func (s *lineScanner) skipSpace() {
	for c := s.peek(); c == ' ' || c == '\t'; c = s.peek() {
		s.next()
	}
}

func (s *lineScanner) skipComment() {
	for !s.eof() && s.peek() != '\n' {
		s.next()
	}
}

// skipBlank skips whitespace, newlines and comments, as allowed inside arrays
// and (TOML 1.1) inline tables.
func (s *lineScanner) skipBlank() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.next()
		case '#':
			s.skipComment()
		default:
			return
		}
	}
}

func (s *lineScanner) document() {
	table := ""
	for !s.eof() {
		start := s.pos
		s.skipSpace()
		switch c := s.peek(); {
		case c == '\r' || c == '\n':
			s.next()
		case c == '#':
			s.skipComment()
		case c == '[':
			table = s.header()
		case c != 0:
			s.keyValue(table)
			s.skipSpace()
			if s.peek() == '#' {
				s.skipComment()
			}
		}
		if s.pos == start { // never stall on input we do not understand
			s.next()
		}
	}
}

// header reads "[a.b]" or "[[a.b]]" and returns the path of the table it opens.
func (s *lineScanner) header() string {
	s.next()
	array := s.peek() == '['
	if array {
		s.next()
	}
	keys := s.key()
	s.skipSpace()
	for s.peek() == ']' {
		s.next()
	}
	if len(keys) == 0 {
		return ""
	}
	path := ""
	for _, k := range keys[:len(keys)-1] {
		path = joinKey(path, k)
		s.record(path)
		if n, ok := s.arrays[path]; ok && n > 0 {
			path = indexKey(path, n-1)
		}
	}
	path = joinKey(path, keys[len(keys)-1])
	if !array {
		s.idx[path] = s.line
		return path
	}
	s.record(path)
	n := s.arrays[path]
	s.arrays[path] = n + 1
	path = indexKey(path, n)
	s.idx[path] = s.line
	return path
}

// keyValue reads `a.b = value` inside table.
func (s *lineScanner) keyValue(table string) {
	keys := s.key()
	if len(keys) == 0 {
		return
	}
	path := table
	for _, k := range keys[:len(keys)-1] {
		path = joinKey(path, k)
		s.record(path)
	}
	path = joinKey(path, keys[len(keys)-1])
	s.record(path)
	s.skipSpace()
	if s.peek() != '=' {
		return
	}
	s.next()
	s.skipSpace()
	s.value(path)
}

// key reads a possibly dotted, possibly quoted key.
func (s *lineScanner) key() []string {
	var keys []string
	for {
		s.skipSpace()
		var k string
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			k = s.str()
		case isBareByte(c):
			start := s.pos
			for isBareByte(s.peek()) {
				s.next()
			}
			k = s.src[start:s.pos]
		default:
			return keys
		}
		keys = append(keys, k)
		s.skipSpace()
		if s.peek() != '.' {
			return keys
		}
		s.next()
	}
}

func (s *lineScanner) value(path string) {
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '[':
		s.next()
		for i := 0; ; i++ {
			s.skipBlank()
			if s.eof() || s.peek() == ']' {
				s.next()
				return
			}
			start := s.pos
			elem := indexKey(path, i)
			s.record(elem)
			s.value(elem)
			s.skipBlank()
			if s.peek() == ',' {
				s.next()
			}
			if s.pos == start {
				s.next()
			}
		}
	case '{':
		s.next()
		for {
			s.skipBlank()
			if s.eof() || s.peek() == '}' {
				s.next()
				return
			}
			start := s.pos
			s.keyValue(path)
			s.skipBlank()
			if s.peek() == ',' {
				s.next()
			}
			if s.pos == start {
				s.next()
			}
		}
	default:
		// Numbers, booleans and datetimes (which may contain a space).
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.peek())) {
			s.next()
		}
	}
}

// str reads any of the four TOML string forms and returns its value. Escapes
// are decoded because quoted keys must match the keys the parser reports.
func (s *lineScanner) str() string {
	q := s.peek()
	multi := strings.HasPrefix(s.src[s.pos:], string([]byte{q, q, q}))
	if multi {
		s.pos += 3 // three quotes, no newline
	} else {
		s.next()
	}
	var b strings.Builder
	for !s.eof() {
		c := s.peek()
		switch {
		case c == q && !multi:
			s.next()
			return b.String()
		case c == q && strings.HasPrefix(s.src[s.pos:], string([]byte{q, q, q})):
			s.pos += 3
			// Up to two more quotes may close the string: `"""a""""` is `a"`.
			for i := 0; i < 2 && s.peek() == q; i++ {
				b.WriteByte(q)
				s.next()
			}
			return b.String()
		case c == '\n' && !multi:
			return b.String()
		case c == '\\' && q == '"':
			s.next()
			s.escape(&b, multi)
		default:
			b.WriteByte(c)
			s.next()
		}
	}
	return b.String()
}

func (s *lineScanner) escape(b *strings.Builder, multi bool) {
	c := s.peek()
	s.next()
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case 'e':
		b.WriteByte(0x1b)
	case 'x', 'u', 'U':
		n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		end := min(s.pos+n, len(s.src))
		if r, err := strconv.ParseUint(s.src[s.pos:end], 16, 32); err == nil {
			b.WriteRune(rune(r))
		}
		for s.pos < end {
			s.next()
		}
	case ' ', '\t', '\r', '\n':
		// Line-ending backslash in a multi-line string: trim the whitespace.
		if multi {
			s.skipBlankNoComment()
		}
	default:
		b.WriteByte(c)
	}
}

func (s *lineScanner) skipBlankNoComment() {
	for c := s.peek(); c == ' ' || c == '\t' || c == '\r' || c == '\n'; c = s.peek() {
		s.next()
	}
}
