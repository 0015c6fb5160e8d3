package muc

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// archiveRequest is a parsed query of the room archive.
type archiveRequest struct {
	queryID string
	q       storage.ArchiveQuery
	flip    bool
}

func archiveBadRequest(format string, args ...any) error {
	return xmppcore.NewError(stanza.BadRequest, fmt.Sprintf(format, args...))
}

// parseArchiveQuery reads a XEP-0313 <query/>: the form fields start, end,
// after-id, before-id and ids (§4.1), RSM max, after, before and index,
// and <flip-page/>. 'with' and unknown fields are feature-not-implemented
// (§4.1.5); values that do not parse are bad-request.
func parseArchiveQuery(payload *xmppcore.Element) (*archiveRequest, error) {
	r := &archiveRequest{queryID: payload.Attr("queryid"), q: storage.ArchiveQuery{Max: archivePageSize}}
	if _, ok := payload.LookupAttr("", "node"); ok {
		return nil, xmppcore.NewError(stanza.FeatureNotImplemented, "no pubsub archive here")
	}
	for c := range payload.Children() {
		switch {
		case c.Is(NSData, "x"):
			if err := r.parseForm(c); err != nil {
				return nil, err
			}
		case c.Is(NSRSM, "set"):
			if err := r.parseRSM(c); err != nil {
				return nil, err
			}
		case c.Is(NSMAM, "flip-page"):
			r.flip = true
		}
	}
	return r, nil
}

func (r *archiveRequest) parseForm(x *xmppcore.Element) error {
	if t := x.Attr("type"); t != "submit" && t != "" {
		return archiveBadRequest("the query form must be of type submit, not %q", t)
	}
	seen := map[string]bool{}
	for f := range x.Children() {
		if !f.Is(NSData, "field") {
			continue
		}
		name := f.Attr("var")
		if seen[name] {
			return archiveBadRequest("field %q given twice", name)
		}
		seen[name] = true
		var values []string
		for v := range f.Children() {
			if v.Is(NSData, "value") {
				values = append(values, v.Text())
			}
		}
		one := ""
		if len(values) > 0 {
			one = values[0]
		}
		switch name {
		case "FORM_TYPE":
			if one != NSMAM && one != NSMAM+"#extended" {
				return archiveBadRequest("FORM_TYPE %q is not %s", one, NSMAM)
			}
		case "start", "end":
			t, err := parseArchiveTime(one)
			if err != nil {
				return archiveBadRequest("%s: %q is not a DateTime", name, one)
			}
			if name == "start" {
				r.q.Start = t
			} else {
				r.q.End = t
			}
		case "after-id":
			r.q.AfterID = one
		case "before-id":
			r.q.BeforeID = one
		case "ids":
			r.q.IDs = append(r.q.IDs, values...)
		default:
			return xmppcore.NewError(stanza.FeatureNotImplemented, fmt.Sprintf("field %q is not supported", name))
		}
	}
	return nil
}

func parseArchiveTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if len(s) < len("2006-01-02T15:04:05Z") || s[10] != 'T' {
		return time.Time{}, errors.New("not a DateTime")
	}
	return t, nil
}

func (r *archiveRequest) parseRSM(set *xmppcore.Element) error {
	for c := range set.Children() {
		if c.Space != NSRSM {
			continue
		}
		switch c.Local {
		case "max":
			n, err := strconv.Atoi(c.Text())
			if err != nil || n < 0 {
				return archiveBadRequest("RSM max must be a non-negative integer")
			}
			r.q.Max = min(n, archiveMaxPageSize)
		case "after":
			if c.Text() == "" {
				return archiveBadRequest("RSM after must name an item")
			}
			r.q.After = c.Text()
		case "before":
			r.q.Before, r.q.Backward = c.Text(), true
		case "index":
			n, err := strconv.Atoi(c.Text())
			if err != nil || n < 0 {
				return archiveBadRequest("RSM index must be a non-negative integer")
			}
			r.q.Index = n
		}
	}
	return nil
}
