package mamquery

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces of a query.
const (
	NS         = "urn:xmpp:mam:2"                 // XEP-0313
	NSExtended = NS + "#extended"                 // after-id, before-id, ids
	NSData     = "jabber:x:data"                  // XEP-0004
	NSRSM      = "http://jabber.org/protocol/rsm" // XEP-0059
	nsValidate = "http://jabber.org/protocol/xdata-validate"
)

// Limits bound a query.
type Limits struct {
	// DefaultPageSize is the RSM max of a query that gives none.
	DefaultPageSize int
	// MaxPageSize lowers a larger RSM max.
	MaxPageSize int
	// MaxIDs bounds the ids field (policy-violation beyond); 0: no bound.
	MaxIDs int
}

// Request is a parsed query.
type Request struct {
	// Query holds the filters and the paging, except With and
	// WithResource, which the caller fills from With.
	Query storage.ArchiveQuery
	// With is the 'with' field's JID, the zero JID when absent or empty.
	With jid.JID
	// QueryID is the queryid attribute, to repeat in each result.
	QueryID string
	// Flip asks for the page's results in reverse order (<flip-page/>).
	Flip bool
}

// HasWith reports whether the query filters by JID.
func (r *Request) HasWith() bool { return !r.With.Equal(jid.JID{}) }

func badRequest(format string, args ...any) error {
	return xmppcore.NewError(stanza.BadRequest, fmt.Sprintf(format, args...))
}

// Parse reads a <query xmlns='urn:xmpp:mam:2'/>: the data form, the RSM
// set and <flip-page/>. A field it does not know is feature-not-implemented
// (§4.1.5), a value that does not parse bad-request, a 'node' (XEP-0442
// pubsub archives) feature-not-implemented. The errors are stanza errors.
func Parse(payload *xmppcore.Element, lim Limits) (*Request, error) {
	r := &Request{QueryID: payload.Attr("queryid"), Query: storage.ArchiveQuery{Max: lim.DefaultPageSize}}
	if _, ok := payload.LookupAttr("", "node"); ok {
		return nil, xmppcore.NewError(stanza.FeatureNotImplemented, "no pubsub archive here")
	}
	for c := range payload.Children() {
		switch {
		case c.Is(NSData, "x"):
			if err := r.parseForm(c, lim); err != nil {
				return nil, err
			}
		case c.Is(NSRSM, "set"):
			if err := r.parseRSM(c, lim); err != nil {
				return nil, err
			}
		case c.Is(NS, "flip-page"):
			r.Flip = true
		}
	}
	return r, nil
}

// parseForm applies XEP-0313 §4.1: FORM_TYPE, with, start, end, after-id,
// before-id and ids.
func (r *Request) parseForm(x *xmppcore.Element, lim Limits) error {
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
				r.Query.IDs = append(r.Query.IDs, v)
			}
			if lim.MaxIDs > 0 && len(r.Query.IDs) > lim.MaxIDs {
				return xmppcore.NewError(stanza.PolicyViolation, fmt.Sprintf("at most %d ids", lim.MaxIDs))
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
			r.With = j
		case "start", "end":
			if v == "" {
				continue
			}
			t, err := ParseDateTime(v)
			if err != nil {
				return badRequest("%s: not a XEP-0082 DateTime: %q", name, v)
			}
			if name == "start" {
				r.Query.Start = t
			} else {
				r.Query.End = t
			}
		case "after-id":
			r.Query.AfterID = v
		case "before-id":
			r.Query.BeforeID = v
		default:
			return xmppcore.NewError(stanza.FeatureNotImplemented, fmt.Sprintf("unknown field %q", name))
		}
	}
	return nil
}

// ParseDateTime reads a XEP-0082 DateTime: a date, 'T', a time with
// optional fractions of a second, and 'Z' or an offset.
func ParseDateTime(s string) (time.Time, error) {
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
func (r *Request) parseRSM(set *xmppcore.Element, lim Limits) error {
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
			if lim.MaxPageSize > 0 {
				n = min(n, lim.MaxPageSize)
			}
			r.Query.Max = n
		case "after":
			if c.Text() == "" {
				return badRequest("RSM after must name an item")
			}
			r.Query.After = c.Text()
		case "before":
			r.Query.Before, r.Query.Backward = c.Text(), true
		case "index":
			n, err := strconv.Atoi(c.Text())
			if err != nil || n < 0 {
				return badRequest("RSM index must be a non-negative integer")
			}
			r.Query.Index = n
		}
	}
	return nil
}

// Form is the answer to a get of the query form (§4.1.5): the fields a
// query may use, none required.
func Form() *xmppcore.Element {
	x := xmppcore.New(NSData, "x", "type", "form").Append(
		xmppcore.New(NSData, "field", "type", "hidden", "var", "FORM_TYPE").Append(
			xmppcore.New(NSData, "value").AppendText(NS)),
		xmppcore.New(NSData, "field", "type", "jid-single", "var", "with"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "start"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "end"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "before-id"),
		xmppcore.New(NSData, "field", "type", "text-single", "var", "after-id"),
		xmppcore.New(NSData, "field", "type", "list-multi", "var", "ids").Append(
			xmppcore.New(nsValidate, "validate", "datatype", "xs:string").Append(
				xmppcore.New(nsValidate, "open"))),
	)
	return xmppcore.New(NS, "query").Append(x)
}

// Fin is the IQ result's payload: completeness and the RSM set. first and
// last are the page's bounds in archive order, flipped or not.
func Fin(page storage.ArchivePage) *xmppcore.Element {
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

// Stamp formats a XEP-0082 DateTime in UTC with milliseconds.
func Stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// Entries returns the page's entries in the order to send them: archive
// order, or reversed for <flip-page/> (a copy; the page is unchanged).
func (r *Request) Entries(page storage.ArchivePage) []storage.ArchiveEntry {
	if !r.Flip {
		return page.Entries
	}
	out := make([]storage.ArchiveEntry, len(page.Entries))
	for i, e := range page.Entries {
		out[len(out)-1-i] = e
	}
	return out
}

// Namespaces of a result.
const (
	NSForward = "urn:xmpp:forward:0" // XEP-0297
	NSDelay   = "urn:xmpp:delay"     // XEP-0203
)

// Result is the <result/> of one entry (§4.2): the entry's ID, the
// queryid, and the stanza msg forwarded with the time it was archived.
// msg nil (a stored stanza that no longer parses, which §5.2 allows to
// leave out) gives a <forwarded/> with the delay alone, so that paging
// still sees the ID. msg is put in jabber:client explicitly (it changes
// msg), so that it stays so whatever stream it is written to.
func Result(queryID string, e storage.ArchiveEntry, msg *xmppcore.Element) *xmppcore.Element {
	fwd := xmppcore.New(NSForward, "forwarded").Append(
		xmppcore.New(NSDelay, "delay", "stamp", Stamp(e.Stamp)))
	if msg != nil {
		fwd.Append(InClientNS(msg))
	}
	res := xmppcore.New(NS, "result", "id", e.ID)
	if queryID != "" {
		res.SetAttr("queryid", queryID)
	}
	return res.Append(fwd)
}

// InClientNS puts el and its descendants of the content namespace in
// jabber:client explicitly. It changes el.
func InClientNS(el *xmppcore.Element) *xmppcore.Element {
	if el.Space == "" {
		el.Space = xmppcore.NSClient
	}
	for c := range el.Children() {
		InClientNS(c)
	}
	return el
}
