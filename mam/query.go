package mam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// form answers a get of the query form (XEP-0313 §4.1.5): the fields a
// query may use, none required.
func (m *MAM) form(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	x := xmppcore.New(NSData, "x", "type", "form").Append(
		xmppcore.New(NSData, "field", "type", "hidden", "var", "FORM_TYPE").Append(
			xmppcore.New(NSData, "value").AppendText(NS)),
		xmppcore.New(NSData, "field", "type", "jid-single", "var", "with"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "start"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "end"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "before-id"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "after-id"),
		xmppcore.New(NSData, "field", "type", "list-multi", "var", "ids").Append(
			xmppcore.New("http://jabber.org/protocol/xdata-validate", "validate", "datatype", "xs:string").Append(
				xmppcore.New("http://jabber.org/protocol/xdata-validate", "open"))),
	)
	return xmppcore.New(NS, "query").Append(x), nil
}

// metadata answers XEP-0313 §6: the first and last entries, or nothing
// for an empty archive.
func (m *MAM) metadata(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	m.flush(ctx)
	owner := iq.To.Bare()
	md, err := m.store.ArchiveMetadata(ctx, owner.Domainpart(), owner.Localpart())
	if err != nil {
		return nil, fmt.Errorf("mam: metadata of %s: %w", owner, err)
	}
	el := xmppcore.New(NS, "metadata")
	if !md.Empty() {
		el.Append(
			xmppcore.New(NS, "start", "id", md.First.ID, "timestamp", stamp(md.First.Stamp)),
			xmppcore.New(NS, "end", "id", md.Last.ID, "timestamp", stamp(md.Last.Stamp)))
	}
	return el, nil
}

// flush waits, for a little while at most, until the messages routed so
// far are written, so that a client finds what it just sent or received.
func (m *MAM) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := m.w.flush(ctx); err != nil {
		m.log.Warn("archive flush before a query timed out", "err", err)
	}
}

// request is a parsed query.
type request struct {
	q       storage.ArchiveQuery
	queryID string
	flip    bool
}

func badRequest(format string, args ...any) error {
	return xmppcore.NewError(stanza.BadRequest, fmt.Sprintf(format, args...))
}

// parseQuery reads the data form, the RSM set and <flip-page/>.
func (m *MAM) parseQuery(payload *xmppcore.Element) (*request, error) {
	r := &request{queryID: payload.Attr("queryid"), q: storage.ArchiveQuery{Max: m.opts.DefaultPageSize}}
	if _, ok := payload.LookupAttr("", "node"); ok {
		// XEP-0442 pubsub archives: not on a user's account.
		return nil, xmppcore.NewError(stanza.FeatureNotImplemented, "no pubsub archive here")
	}
	for c := range payload.Children() {
		switch {
		case c.Is(NSData, "x"):
			if err := r.parseForm(c); err != nil {
				return nil, err
			}
		case c.Is(NSRSM, "set"):
			if err := m.parseRSM(r, c); err != nil {
				return nil, err
			}
		case c.Is(NS, "flip-page"):
			r.flip = true
		}
	}
	return r, nil
}

// parseForm applies XEP-0313 §4.1: FORM_TYPE, with, start, end, after-id,
// before-id and ids. A field this server does not know is
// feature-not-implemented (§4.1.5); a value that does not parse is
// bad-request.
func (r *request) parseForm(x *xmppcore.Element) error {
	if t := x.Attr("type"); t != "submit" && t != "" {
		return badRequest("the query form must be of type submit, not %q", t)
	}
	seen := map[string]bool{}
	for f := range x.Children() {
		if !f.Is(NSData, "field") {
			continue
		}
		name := f.Attr("var")
		if seen[name] {
			return badRequest("field %q given twice", name)
		}
		seen[name] = true
		var values []string
		for v := range f.Children() {
			if v.Is(NSData, "value") {
				values = append(values, v.Text())
			}
		}
		if name == "ids" {
			for _, v := range values {
				if v == "" {
					return badRequest("empty id in ids")
				}
				r.q.IDs = append(r.q.IDs, v)
			}
			if len(r.q.IDs) > maxQueryIDs {
				return xmppcore.NewError(stanza.PolicyViolation, fmt.Sprintf("at most %d ids", maxQueryIDs))
			}
			continue
		}
		if len(values) > 1 {
			return badRequest("field %q takes one value", name)
		}
		v := ""
		if len(values) == 1 {
			v = values[0]
		}
		switch name {
		case "FORM_TYPE":
			if v != NS {
				return badRequest("FORM_TYPE must be %s", NS)
			}
		case "with":
			if v == "" {
				continue
			}
			j, err := jid.Parse(v)
			if err != nil {
				return badRequest("with: not a JID: %q", v)
			}
			r.q.With, r.q.WithResource = j.Bare().String(), j.Resourcepart()
		case "start", "end":
			if v == "" {
				continue
			}
			t, err := parseDateTime(v)
			if err != nil {
				return badRequest("%s: not a XEP-0082 DateTime: %q", name, v)
			}
			if name == "start" {
				r.q.Start = t
			} else {
				r.q.End = t
			}
		case "after-id":
			r.q.AfterID = v
		case "before-id":
			r.q.BeforeID = v
		default:
			return xmppcore.NewError(stanza.FeatureNotImplemented, fmt.Sprintf("unknown field %q", name))
		}
	}
	return nil
}

// parseDateTime reads a XEP-0082 DateTime: a date, 'T', a time with
// optional fractions of a second, and 'Z' or an offset.
func parseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if len(s) < len("2006-01-02T15:04:05Z") || s[10] != 'T' {
		return time.Time{}, errors.New("not a DateTime")
	}
	return t, nil
}

// parseRSM reads XEP-0059: max (lowered to the page size bound), after,
// before (empty: the last page) and index.
func (m *MAM) parseRSM(r *request, set *xmppcore.Element) error {
	for c := range set.Children() {
		if c.Space != NSRSM {
			continue
		}
		switch c.Local {
		case "max":
			n, err := strconv.Atoi(c.Text())
			if err != nil || n < 0 {
				return badRequest("RSM max must be a non-negative integer")
			}
			r.q.Max = min(n, m.opts.MaxPageSize)
		case "after":
			if c.Text() == "" {
				return badRequest("RSM after must name an item")
			}
			r.q.After = c.Text()
		case "before":
			r.q.Before, r.q.Backward = c.Text(), true
		case "index":
			n, err := strconv.Atoi(c.Text())
			if err != nil || n < 0 {
				return badRequest("RSM index must be a non-negative integer")
			}
			r.q.Index = n
		}
	}
	return nil
}

// query answers an archive query: the results, each a message to the
// requesting resource, then the IQ result with <fin/>.
func (m *MAM) query(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	r, err := m.parseQuery(iq.Payload)
	if err != nil {
		return nil, err
	}
	m.flush(ctx)
	owner := iq.To.Bare()
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	page, err := m.store.QueryArchive(qctx, owner.Domainpart(), owner.Localpart(), r.q)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, xmppcore.NewError(stanza.ItemNotFound, "no such item in the archive")
	case err != nil:
		return nil, fmt.Errorf("mam: query of %s: %w", owner, err)
	}
	entries := page.Entries
	if r.flip {
		entries = slices.Clone(entries)
		slices.Reverse(entries)
	}
	for _, e := range entries {
		if !m.send(ctx, iq, m.result(owner, iq.From, r.queryID, e)) {
			return nil, fmt.Errorf("mam: %s stopped taking results", iq.From)
		}
	}
	return fin(page, r), nil
}

// send delivers a result message to the requesting resource.
func (m *MAM) send(ctx context.Context, iq *module.IQ, msg *xmppcore.Element) bool {
	if iq.Origin != nil && iq.Origin.JID().Equal(iq.From) {
		return iq.Origin.Send(msg)
	}
	m.rt.Route(ctx, &router.Stanza{El: msg, From: iq.To.Bare(), To: iq.From})
	return true
}

// result wraps an entry as XEP-0313 §4.2 says. A stanza that no longer
// parses is left out of <forwarded/> (§5.2 allows it), so that paging
// still sees its ID.
func (m *MAM) result(owner, to jid.JID, queryID string, e storage.ArchiveEntry) *xmppcore.Element {
	fwd := xmppcore.New(NSForward, "forwarded").Append(
		xmppcore.New(NSDelay, "delay", "stamp", stamp(e.Stamp)))
	if msg, err := parseStanza(e.Stanza); err != nil {
		m.log.Error("archived message does not parse", "owner", owner.String(), "id", e.ID, "err", err)
	} else {
		fwd.Append(inClientNS(msg))
	}
	res := xmppcore.New(NS, "result", "id", e.ID)
	if queryID != "" {
		res.SetAttr("queryid", queryID)
	}
	return xmppcore.New("", xmppcore.Message, "from", owner.String(), "to", to.String(), "id", newID()).
		Append(res.Append(fwd))
}

// inClientNS puts el and its descendants of the content namespace in
// jabber:client explicitly, so that a stanza embedded in another element
// stays jabber:client whatever stream it is written to. It changes el.
func inClientNS(el *xmppcore.Element) *xmppcore.Element {
	if el.Space == "" {
		el.Space = xmppcore.NSClient
	}
	for c := range el.Children() {
		inClientNS(c)
	}
	return el
}

// fin is the IQ result's payload: completeness and the RSM set. first and
// last are the page's bounds in archive order, flipped or not.
func fin(page storage.ArchivePage, r *request) *xmppcore.Element {
	el := xmppcore.New(NS, "fin", "complete", strconv.FormatBool(page.Complete))
	set := xmppcore.New(NSRSM, "set")
	if n := len(page.Entries); n > 0 {
		set.Append(
			xmppcore.New(NSRSM, "first", "index", strconv.Itoa(page.Index)).AppendText(page.Entries[0].ID),
			xmppcore.New(NSRSM, "last").AppendText(page.Entries[n-1].ID))
	}
	set.Append(xmppcore.New(NSRSM, "count").AppendText(strconv.Itoa(page.Count)))
	return el.Append(set)
}

// stamp formats a XEP-0082 DateTime in UTC with milliseconds.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

const (
	streamOpen  = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	streamClose = `</stream:stream>`
)

// parseStanza reads back a message serialized in the client namespace.
func parseStanza(b []byte) (*xmppcore.Element, error) {
	in := bytes.NewReader(append(append([]byte(streamOpen), b...), streamClose...))
	rd := xmppcore.NewReader(in, xmppcore.Limits{MaxStanzaSize: len(b) + 1024, MaxDepth: 1 << 10})
	if _, err := rd.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := rd.Next()
	if err != nil {
		return nil, err
	}
	if !el.Is("", xmppcore.Message) {
		return nil, fmt.Errorf("stored element is %s, not a message", el.Local)
	}
	return el, nil
}
