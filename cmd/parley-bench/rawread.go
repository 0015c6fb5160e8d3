package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// The load scenarios (chat, presence, mam) read what the server sends
// without building an element tree: xmppcore.Reader costs about as much per
// stanza as the server spends routing it (encoding/xml, ~45 allocations
// for a 300-byte message), so a tool parsing every delivery fully would
// measure itself. rawSplitter only finds where each top-level element ends
// (tags, quoted attribute values, comments, CDATA, processing
// instructions); the handlers look for what they need in the bytes.
//
// It trusts the server to send well-formed XML: it is a measuring tool,
// not a validator.

// RawHandler gets each top-level element the session receives after login,
// as the server wrote it. raw is valid only during the call.
type RawHandler func(s *Session, raw []byte)

// rawSplitter splits a stream (after its header) into top-level elements.
type rawSplitter struct {
	buf  []byte
	r, w int // unconsumed bytes are buf[r:w]
	max  int // largest element accepted
}

// next returns the next complete top-level element, or nil when buf holds
// none yet. done is set when the stream's end tag was seen.
func (sp *rawSplitter) next() (el []byte, done bool, err error) {
	b := sp.buf[sp.r:sp.w]
	// Skip white space (keepalives) between stanzas.
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	sp.r += i
	b = b[i:]
	if len(b) == 0 {
		return nil, false, nil
	}
	if b[0] != '<' {
		return nil, false, fmt.Errorf("text between stanzas: %q", clip(b))
	}
	depth := 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			return nil, false, nil
		}
		i += j
		if i+1 >= len(b) {
			return nil, false, nil
		}
		switch b[i+1] {
		case '/':
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				return nil, false, nil
			}
			i += k + 1
			depth--
			if depth < 0 { // the stream's own end tag
				sp.r += i
				return nil, true, nil
			}
			if depth == 0 {
				sp.r += i
				return b[:i], false, nil
			}
		case '?':
			k := bytes.Index(b[i:], []byte("?>"))
			if k < 0 {
				return nil, false, nil
			}
			i += k + 2
			if depth == 0 { // between stanzas: skipped
				sp.r += i
				return sp.next()
			}
		case '!':
			end := "-->"
			if bytes.HasPrefix(b[i:], []byte("<![CDATA[")) {
				end = "]]>"
			} else if len(b)-i < 9 && bytes.HasPrefix([]byte("<![CDATA["), b[i:]) {
				return nil, false, nil
			}
			k := bytes.Index(b[i+2:], []byte(end))
			if k < 0 {
				return nil, false, nil
			}
			i += 2 + k + len(end)
			if depth == 0 { // a comment between stanzas: skipped
				sp.r += i
				return sp.next()
			}
		default:
			// A start tag: find its '>' outside quoted attribute values.
			k := i + 1
			var quote byte
			for ; k < len(b); k++ {
				c := b[k]
				if quote != 0 {
					if c == quote {
						quote = 0
					}
					continue
				}
				if c == '\'' || c == '"' {
					quote = c
				} else if c == '>' {
					break
				}
			}
			if k >= len(b) {
				return nil, false, nil
			}
			empty := b[k-1] == '/'
			i = k + 1
			if !empty {
				depth++
			} else if depth == 0 {
				sp.r += i
				return b[:i], false, nil
			}
		}
	}
	return nil, false, nil
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// fill reads more from src into the buffer, compacting or growing it.
func (sp *rawSplitter) fill(src io.Reader) error {
	if sp.r > 0 {
		n := copy(sp.buf, sp.buf[sp.r:sp.w])
		sp.r, sp.w = 0, n
	}
	if sp.w == len(sp.buf) {
		if len(sp.buf) >= sp.max {
			return fmt.Errorf("an element larger than %d bytes", sp.max)
		}
		nb := make([]byte, min(2*len(sp.buf), sp.max))
		copy(nb, sp.buf[:sp.w])
		sp.buf = nb
	}
	n, err := src.Read(sp.buf[sp.w:])
	sp.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// ServeRaw reads until the stream ends, like Serve, but hands h the raw
// bytes of each element instead of a parsed tree. It answers XEP-0199 pings
// and refuses other IQ requests; a stream error ends it with a LoginError
// naming the condition.
func (s *Session) ServeRaw(h RawHandler) error {
	sp := &rawSplitter{buf: make([]byte, 16<<10), max: max(s.cfg.MaxStanza, 64<<10)}
	// What the negotiation's reader read past the bind result.
	for s.br != nil && s.br.Buffered() > 0 {
		if sp.w == len(sp.buf) {
			nb := make([]byte, 2*len(sp.buf))
			copy(nb, sp.buf)
			sp.buf = nb
		}
		n, err := s.br.Read(sp.buf[sp.w:])
		sp.w += n
		if err != nil {
			break
		}
	}
	s.rd, s.br = nil, nil
	for {
		el, done, err := sp.next()
		if err != nil {
			return failf("read:not-well-formed", "%v", err)
		}
		if done {
			return io.EOF
		}
		if el == nil {
			if err := sp.fill(s.c); err != nil {
				return err
			}
			continue
		}
		switch {
		case bytes.HasPrefix(el, []byte("<stream:error")) || bytes.HasPrefix(el, []byte("<error")):
			cond := rawStreamErrorCondition(el)
			return failf("stream-error:"+cond, "stream error %s", cond)
		case bytes.HasPrefix(el, []byte("<iq")) && isTagEnd(el, 3):
			switch t := rawAttr(el, "type"); t {
			case "get", "set":
				s.answerRawIQ(el)
				continue
			}
		}
		if h != nil {
			h(s, el)
		}
	}
}

// isTagEnd reports whether el[i] ends the element name of a start tag.
func isTagEnd(el []byte, i int) bool {
	if i >= len(el) {
		return false
	}
	switch el[i] {
	case ' ', '\t', '\n', '\r', '>', '/':
		return true
	}
	return false
}

func (s *Session) answerRawIQ(el []byte) {
	id, from := rawAttr(el, "id"), rawAttr(el, "from")
	var b []byte
	b = append(b, "<iq type='"...)
	ping := bytes.Contains(el, []byte("urn:xmpp:ping"))
	if ping {
		b = append(b, "result"...)
	} else {
		b = append(b, "error"...)
	}
	b = append(b, "' id='"...)
	b = append(b, escapeAttr(id)...)
	if from != "" {
		b = append(b, "' to='"...)
		b = append(b, escapeAttr(from)...)
	}
	b = append(b, '\'')
	if ping {
		b = append(b, "/>"...)
	} else {
		b = append(b, "><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"...)
	}
	_ = s.Write(b)
}

var attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", "'", "&apos;", `"`, "&quot;")

func escapeAttr(v string) string { return attrEscaper.Replace(v) }

var attrUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&apos;", "'", "&quot;", `"`)

// rawAttr returns the (unescaped) value of attribute name on the element's
// start tag, or "". Only the first tag is searched.
func rawAttr(el []byte, name string) string {
	v, ok := rawAttrBytes(el, name)
	if !ok {
		return ""
	}
	if bytes.IndexByte(v, '&') < 0 {
		return string(v)
	}
	return attrUnescaper.Replace(string(v))
}

// rawAttrBytes is rawAttr without unescaping or copying.
func rawAttrBytes(el []byte, name string) ([]byte, bool) {
	// The start tag: up to the first '>' outside quotes.
	i := 1
	for i < len(el) && !isSpaceByte(el[i]) && el[i] != '>' && el[i] != '/' {
		i++
	}
	for i < len(el) {
		for i < len(el) && isSpaceByte(el[i]) {
			i++
		}
		if i >= len(el) || el[i] == '>' || el[i] == '/' {
			return nil, false
		}
		start := i
		for i < len(el) && el[i] != '=' && !isSpaceByte(el[i]) && el[i] != '>' {
			i++
		}
		key := el[start:i]
		for i < len(el) && (isSpaceByte(el[i]) || el[i] == '=') {
			i++
		}
		if i >= len(el) || (el[i] != '\'' && el[i] != '"') {
			return nil, false
		}
		q := el[i]
		i++
		end := bytes.IndexByte(el[i:], q)
		if end < 0 {
			return nil, false
		}
		val := el[i : i+end]
		i += end + 1
		if string(key) == name {
			return val, true
		}
	}
	return nil, false
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// rawStreamErrorCondition finds the defined condition of a stream error.
func rawStreamErrorCondition(el []byte) string {
	return rawConditionIn(el, "urn:ietf:params:xml:ns:xmpp-streams")
}

// rawStanzaErrorCondition finds the defined condition of a stanza error.
func rawStanzaErrorCondition(el []byte) string {
	return rawConditionIn(el, "urn:ietf:params:xml:ns:xmpp-stanzas")
}

// rawConditionIn returns the name of the first element, other than <text>,
// declaring namespace ns.
func rawConditionIn(el []byte, ns string) string {
	rest := el
	for {
		k := bytes.Index(rest, []byte(ns))
		if k < 0 {
			return "undefined"
		}
		lt := bytes.LastIndexByte(rest[:k], '<')
		if lt >= 0 {
			name := rest[lt+1:]
			n := 0
			for n < len(name) && !isSpaceByte(name[n]) && name[n] != '/' && name[n] != '>' {
				n++
			}
			cond := string(name[:n])
			if _, local, ok := strings.Cut(cond, ":"); ok {
				cond = local
			}
			if cond != "text" && cond != "error" && cond != "stream:error" {
				return cond
			}
		}
		rest = rest[k+len(ns):]
	}
}
