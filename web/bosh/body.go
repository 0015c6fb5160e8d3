package bosh

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"

	"parley.im/parley/xmppcore"
)

// Namespaces.
const (
	NS        = "http://jabber.org/protocol/httpbind"
	NSXBOSH   = "urn:xmpp:xbosh"
	NSClient  = "jabber:client"
	nsXML     = "http://www.w3.org/XML/1998/namespace"
	nsStream  = "http://etherx.jabber.org/streams"
	nsFraming = "urn:ietf:params:xml:ns:xmpp-framing"
)

// maxRID is the largest rid a client may use (XEP-0124 §14.1: 2^53-1).
const maxRID = 1<<53 - 1

// body is a parsed request: the <body/> wrapper's attributes and its
// children, each already serialized as a frame (namespace-qualified, on its
// own).
type body struct {
	attrs    map[string]string // "rid", "xmpp:restart", "xml:lang"...
	rid      int64
	frames   [][]byte
	children int
}

func (b *body) attr(name string) string { return b.attrs[name] }

var errBadBody = errors.New("bosh: bad request body")

// parseBody parses a request body: exactly one <body/> in NS whose
// children become frames. The wrapper's attributes come from a first pass
// with encoding/xml (prefixes resolved: xmpp:* and xml:lang); the children
// from xmppcore.Reader, with the stream's limits on each of them.
func parseBody(b []byte, lim xmppcore.Limits) (*body, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(string, io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("%w: only UTF-8", errBadBody)
	}
	var start xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadBody, err)
		}
		if t, ok := tok.(xml.StartElement); ok {
			start = t
			break
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, fmt.Errorf("%w: processing instruction", errBadBody)
			}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("%w: text before <body/>", errBadBody)
			}
		default:
			return nil, fmt.Errorf("%w: %T before <body/>", errBadBody, tok)
		}
	}
	if start.Name.Space != NS || start.Name.Local != "body" {
		return nil, fmt.Errorf("%w: root is {%s}%s", errBadBody, start.Name.Space, start.Name.Local)
	}
	out := &body{attrs: make(map[string]string, len(start.Attr))}
	for _, a := range start.Attr {
		switch a.Name.Space {
		case "":
			out.attrs[a.Name.Local] = a.Value
		case NSXBOSH:
			out.attrs["xmpp:"+a.Name.Local] = a.Value
		case nsXML:
			out.attrs["xml:"+a.Name.Local] = a.Value
		}
	}
	rid, err := strconv.ParseInt(out.attrs["rid"], 10, 64)
	if err != nil || rid <= 0 || rid > maxRID {
		return nil, fmt.Errorf("%w: rid %q", errBadBody, out.attrs["rid"])
	}
	out.rid = rid

	rd := xmppcore.NewReader(bytes.NewReader(b), lim)
	if _, err := rd.ReadHeader(); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadBody, err)
	}
	for {
		el, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadBody, err)
		}
		// Children in the wrapper's own namespace (no xmlns) are taken
		// as jabber:client, which XEP-0206 requires them to be in.
		out.frames = append(out.frames, el.AppendXML(nil, NSClient))
		out.children++
	}
	return out, nil
}

// response builds a <body/> wrapper with attrs (name, value pairs; names
// with the xmpp: prefix are in NSXBOSH) around frames.
func response(attrs []string, frames [][]byte) []byte {
	n := 160
	for _, f := range frames {
		n += len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, `<body xmlns="`+NS+`" xmlns:xmpp="`+NSXBOSH+`" xmlns:stream="`+nsStream+`"`...)
	for i := 0; i+1 < len(attrs); i += 2 {
		b = append(b, ' ')
		b = append(b, attrs[i]...)
		b = append(b, `="`...)
		b = append(b, xmppcore.EscapeAttr(attrs[i+1])...)
		b = append(b, '"')
	}
	if len(frames) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	for _, f := range frames {
		b = append(b, f...)
	}
	return append(b, "</body>"...)
}

// terminate is a terminal binding condition (XEP-0124 §17.2), with any
// frames still to deliver (a stream error, last stanzas).
func terminate(cond string, frames ...[]byte) []byte {
	if cond == "" {
		return response([]string{"type", "terminate"}, frames)
	}
	return response([]string{"type", "terminate", "condition", cond}, frames)
}

// Frame kinds the server writes that do not go into bodies as they are.
func isOpenFrame(f []byte) bool {
	return bytes.HasPrefix(f, []byte("<open")) && bytes.Contains(f[:min(len(f), 80)], []byte(nsFraming))
}

func isCloseFrame(f []byte) bool {
	return bytes.HasPrefix(f, []byte("<close")) && bytes.Contains(f[:min(len(f), 80)], []byte(nsFraming))
}

func isStreamError(f []byte) bool { return bytes.HasPrefix(f, []byte("<stream:error")) }

// openFrame is the client's RFC 7395 <open/> for c2s, made from the
// session creation or restart request.
func openFrame(to, lang string) []byte {
	b := []byte(`<open xmlns="` + nsFraming + `" version="1.0" to="`)
	b = append(b, xmppcore.EscapeAttr(to)...)
	b = append(b, '"')
	if lang != "" {
		b = append(b, ` xml:lang="`...)
		b = append(b, xmppcore.EscapeAttr(lang)...)
		b = append(b, '"')
	}
	return append(b, "/>"...)
}

var closeFrame = []byte(`<close xmlns="` + nsFraming + `"/>`)
