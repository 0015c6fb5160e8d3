package mam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/module/mamquery"
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
	return mamquery.Form(), nil
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

// Flush returns once the messages routed so far are in the archive (or
// after a short timeout): c2s calls it before a XEP-0198 <a/> so that what
// the client sees acknowledged is stored.
func (m *MAM) Flush(ctx context.Context) { m.flush(ctx) }

// parseQuery reads the data form, the RSM set and <flip-page/>
// (mamquery.Parse); 'with' matches either party of a message, by bare
// JID or, with a resource, by full JID (XEP-0313 §4.1.1).
func (m *MAM) parseQuery(payload *xmppcore.Element) (*mamquery.Request, error) {
	r, err := mamquery.Parse(payload, mamquery.Limits{
		DefaultPageSize: m.opts.DefaultPageSize, MaxPageSize: m.opts.MaxPageSize, MaxIDs: maxQueryIDs})
	if err != nil {
		return nil, err
	}
	if r.HasWith() {
		r.Query.With, r.Query.WithResource = r.With.Bare().String(), r.With.Resourcepart()
	}
	return r, nil
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
	page, err := m.store.QueryArchive(qctx, owner.Domainpart(), owner.Localpart(), r.Query)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, xmppcore.NewError(stanza.ItemNotFound, "no such item in the archive")
	case err != nil:
		return nil, fmt.Errorf("mam: query of %s: %w", owner, err)
	}
	for _, e := range r.Entries(page) {
		if !m.send(ctx, iq, m.result(owner, iq.From, r.QueryID, e)) {
			return nil, fmt.Errorf("mam: %s stopped taking results", iq.From)
		}
	}
	return mamquery.Fin(page), nil
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
	msg, err := parseStanza(e.Stanza)
	if err != nil {
		m.log.Error("archived message does not parse", "owner", owner.String(), "id", e.ID, "err", err)
		msg = nil
	}
	return xmppcore.New("", xmppcore.Message, "from", owner.String(), "to", to.String(), "id", newID()).
		Append(mamquery.Result(queryID, e, msg))
}

// stamp formats a XEP-0082 DateTime in UTC with milliseconds.
func stamp(t time.Time) string { return mamquery.Stamp(t) }

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
