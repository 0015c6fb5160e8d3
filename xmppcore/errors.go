package xmppcore

import (
	"errors"
	"maps"
	"slices"

	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// Stanza kinds.
const (
	Message  = "message"
	Presence = "presence"
	IQ       = "iq"
)

// IsStanza reports whether e is a message, presence or iq in the content
// namespace.
func IsStanza(e *Element) bool {
	return e != nil && e.Space == "" && (e.Local == Message || e.Local == Presence || e.Local == IQ)
}

// IsRequest reports whether e is an IQ that expects an answer.
func IsRequest(e *Element) bool {
	if e.Local != IQ {
		return false
	}
	t := e.Attr("type")
	return t == "get" || t == "set"
}

// ErrorElement builds the <error/> child for a stanza error.
func ErrorElement(se stanza.Error) *Element {
	typ := se.Type
	if typ == "" {
		typ = DefaultErrorType(se.Condition)
	}
	el := New("", "error", "type", string(typ))
	if !se.By.Equal(emptyJID) {
		el.SetAttr("by", se.By.String())
	}
	cond := string(se.Condition)
	if cond == "" {
		cond = string(stanza.UndefinedCondition)
	}
	el.Append(New(NSStanzas, cond))
	// Sorted, so that the same error always serializes the same way.
	for _, lang := range slices.Sorted(maps.Keys(se.Text)) {
		t := New(NSStanzas, "text").AppendText(se.Text[lang])
		if lang != "" {
			t.Attrs = append(t.Attrs, Attr{Space: NSXML, Local: "lang", Value: lang})
		}
		el.Append(t)
	}
	return el
}

// ErrorReply returns the error answer to st: addresses swapped, same id,
// type error. It returns nil when st must not be answered: an error is never
// answered with an error (RFC 6120 §8.3.1), nor is an IQ result.
func ErrorReply(st *Element, se stanza.Error) *Element {
	switch t := st.Attr("type"); {
	case t == "error", t == "result" && st.Local == IQ:
		return nil
	}
	reply := New(st.Space, st.Local, "type", "error")
	if id := st.Attr("id"); id != "" {
		reply.SetAttr("id", id)
	}
	if from := st.Attr("from"); from != "" {
		reply.SetAttr("to", from)
	}
	if to := st.Attr("to"); to != "" {
		reply.SetAttr("from", to)
	}
	return reply.Append(ErrorElement(se))
}

// NewError is a stanza error with the type RFC 6120 §8.3.3 recommends for
// the condition and an optional English text.
func NewError(cond stanza.Condition, text string) stanza.Error {
	se := stanza.Error{Condition: cond, Type: DefaultErrorType(cond)}
	if text != "" {
		se.Text = map[string]string{"en": text}
	}
	return se
}

var emptyJID = stanza.Error{}.By

// DefaultErrorType is the error type RFC 6120 §8.3.3 gives each condition.
func DefaultErrorType(cond stanza.Condition) stanza.ErrorType {
	switch cond {
	case stanza.BadRequest, stanza.JIDMalformed, stanza.NotAcceptable, stanza.PolicyViolation, stanza.Redirect:
		return stanza.Modify
	case stanza.NotAuthorized, stanza.Forbidden, stanza.RegistrationRequired, stanza.SubscriptionRequired:
		return stanza.Auth
	case stanza.ResourceConstraint, stanza.RecipientUnavailable, stanza.RemoteServerTimeout, stanza.UnexpectedRequest:
		return stanza.Wait
	case stanza.InternalServerError:
		return stanza.Cancel
	}
	return stanza.Cancel
}

// StreamErrorBytes serializes <stream:error/> for a stream error, with the
// stream prefix that every client expects.
func StreamErrorBytes(se stream.Error, text string) []byte {
	b := []byte("<stream:error><")
	cond := se.Err
	if cond == "" {
		cond = stream.UndefinedCondition.Err
	}
	b = append(b, cond...)
	b = append(b, ` xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`...)
	if text != "" {
		b = append(b, `<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">`...)
		b = appendEscaped(b, text, false)
		b = append(b, "</text>"...)
	}
	return append(b, "</stream:error>"...)
}

// AsStreamError extracts the stream error a Reader (or anything else)
// reported, if any.
func AsStreamError(err error) (stream.Error, bool) {
	var se stream.Error
	if errors.As(err, &se) {
		return se, true
	}
	return stream.Error{}, false
}
