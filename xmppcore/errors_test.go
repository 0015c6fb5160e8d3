package xmppcore

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

func TestErrorReply(t *testing.T) {
	unavailable := stanza.Error{Condition: stanza.ServiceUnavailable}
	for i, tc := range []struct {
		in   *Element
		se   stanza.Error
		want string // "" for no reply
	}{
		0: {
			New("", "message", "to", "romeo@example.net", "from", "juliet@example.com/balcony", "id", "m1", "type", "chat").
				Append(New("", "body").AppendText("hi")),
			unavailable,
			`<message type="error" id="m1" to="juliet@example.com/balcony" from="romeo@example.net">` +
				`<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>`,
		},
		1: {
			New("", "iq", "id", "q1", "type", "get", "from", "a@b/c").Append(New("jabber:iq:version", "query")),
			stanza.Error{Condition: stanza.FeatureNotImplemented, Type: stanza.Modify},
			`<iq type="error" id="q1" to="a@b/c"><error type="modify"><feature-not-implemented xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
		},
		2: {
			New("", "iq", "type", "set", "to", "b"),
			stanza.Error{Condition: stanza.Forbidden},
			`<iq type="error" from="b"><error type="auth"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
		},
		3: {
			New("", "presence", "to", "room@muc/nick"),
			stanza.Error{Condition: stanza.Conflict},
			`<presence type="error" from="room@muc/nick"><error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></presence>`,
		},
		// A stanza in an explicit namespace keeps it.
		4: {
			New(NSServer, "message", "id", "x"),
			unavailable,
			`<message xmlns="jabber:server" type="error" id="x"><error xmlns="jabber:client" type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>`,
		},
		// Never answer an error, nor an IQ result.
		5: {New("", "message", "type", "error", "id", "1"), unavailable, ""},
		6: {New("", "presence", "type", "error"), unavailable, ""},
		7: {New("", "iq", "type", "error", "id", "1"), unavailable, ""},
		8: {New("", "iq", "type", "result", "id", "1"), unavailable, ""},
		// "result" means nothing special on a message.
		9: {
			New("", "message", "type", "result"),
			unavailable,
			`<message type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>`,
		},
	} {
		reply := ErrorReply(tc.in, tc.se)
		if tc.want == "" {
			if reply != nil {
				t.Errorf("%d: answered %s with %s", i, tc.in, reply)
			}
			continue
		}
		if reply == nil {
			t.Errorf("%d: no reply to %s", i, tc.in)
			continue
		}
		if got := reply.String(); got != tc.want {
			t.Errorf("%d: reply\n%s\nwant\n%s", i, got, tc.want)
		}
	}
}

func TestErrorElement(t *testing.T) {
	for i, tc := range []struct {
		se   stanza.Error
		want string
	}{
		0: {
			stanza.Error{Condition: stanza.ItemNotFound},
			`<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`,
		},
		1: {
			stanza.Error{Condition: stanza.BadRequest, Type: stanza.Cancel, By: jid.MustParse("example.com"),
				Text: map[string]string{"en": "Bad <request> & \"so\" on"}},
			`<error type="cancel" by="example.com"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">Bad &lt;request&gt; &amp; "so" on</text></error>`,
		},
		// No condition is undefined-condition; a text without a language
		// has no xml:lang.
		2: {
			stanza.Error{Text: map[string]string{"": "why"}},
			`<error type="cancel"><undefined-condition xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">why</text></error>`,
		},
		// Several texts come out in a stable order (by language).
		3: {
			stanza.Error{Condition: stanza.NotAllowed, Text: map[string]string{"fr": "non", "en": "no", "de": "nein", "": "-"}},
			`<error type="cancel"><not-allowed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">-</text>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="de">nein</text>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">no</text>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="fr">non</text></error>`,
		},
		4: {
			NewError(stanza.ResourceConstraint, "slow down"),
			`<error type="wait"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">slow down</text></error>`,
		},
	} {
		el := ErrorElement(tc.se)
		for n := 0; n < 20; n++ { // map order must not leak into the output
			if got := el.String(); got != tc.want {
				t.Fatalf("%d: ErrorElement =\n%s\nwant\n%s", i, got, tc.want)
			}
			el = ErrorElement(tc.se)
		}
		// The output parses back with the text's language where it belongs.
		back, err := parseOne(tc.want, NSClient)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if d := diffElem(el, back); d != "" {
			t.Errorf("%d: re-parsed error differs: %s", i, d)
		}
		for txt := range back.Children() {
			if txt.Local != "text" {
				continue
			}
			if lang := txt.Lang(); tc.se.Text[lang] != txt.Text() {
				t.Errorf("%d: text %q has xml:lang %q", i, txt.Text(), lang)
			}
		}
	}
}

func TestNewError(t *testing.T) {
	se := NewError(stanza.Gone, "")
	if se.Condition != stanza.Gone || se.Type != stanza.Cancel || se.Text != nil {
		t.Errorf("NewError(gone, \"\") = %+v", se)
	}
	se = NewError(stanza.JIDMalformed, "bad jid")
	if se.Condition != stanza.JIDMalformed || se.Type != stanza.Modify || len(se.Text) != 1 || se.Text["en"] != "bad jid" {
		t.Errorf("NewError(jid-malformed, text) = %+v", se)
	}
}

// DefaultErrorType follows the "SHOULD be" of each condition in RFC 6120
// §8.3.3 (the first one where two are given).
func TestDefaultErrorType(t *testing.T) {
	for _, tc := range []struct {
		cond stanza.Condition
		want stanza.ErrorType
	}{
		{stanza.BadRequest, stanza.Modify},
		{stanza.Conflict, stanza.Cancel},
		{stanza.FeatureNotImplemented, stanza.Cancel},
		{stanza.Forbidden, stanza.Auth},
		{stanza.Gone, stanza.Cancel},
		{stanza.InternalServerError, stanza.Cancel},
		{stanza.ItemNotFound, stanza.Cancel},
		{stanza.JIDMalformed, stanza.Modify},
		{stanza.NotAcceptable, stanza.Modify},
		{stanza.NotAllowed, stanza.Cancel},
		{stanza.NotAuthorized, stanza.Auth},
		{stanza.PolicyViolation, stanza.Modify},
		{stanza.RecipientUnavailable, stanza.Wait},
		{stanza.Redirect, stanza.Modify},
		{stanza.RegistrationRequired, stanza.Auth},
		{stanza.RemoteServerNotFound, stanza.Cancel},
		{stanza.RemoteServerTimeout, stanza.Wait},
		{stanza.ResourceConstraint, stanza.Wait},
		{stanza.ServiceUnavailable, stanza.Cancel},
		{stanza.SubscriptionRequired, stanza.Auth},
		{stanza.UndefinedCondition, stanza.Cancel},
		{stanza.UnexpectedRequest, stanza.Wait},
		{"", stanza.Cancel},
		{"made-up", stanza.Cancel},
	} {
		if got := DefaultErrorType(tc.cond); got != tc.want {
			t.Errorf("DefaultErrorType(%q) = %q, want %q", tc.cond, got, tc.want)
		}
	}
}

func TestStreamErrorBytes(t *testing.T) {
	for i, tc := range []struct {
		se   stream.Error
		text string
		want string
	}{
		0: {stream.NotWellFormed, "",
			`<stream:error><not-well-formed xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`},
		1: {stream.PolicyViolation, "stanza too big",
			`<stream:error><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">stanza too big</text></stream:error>`},
		2: {stream.RestrictedXML, "no <!-- comments --> & \"no\" 'PIs'\r\n",
			`<stream:error><restricted-xml xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>` +
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">no &lt;!-- comments --&gt; &amp; "no" 'PIs'&#xD;` + "\n" + `</text></stream:error>`},
		3: {stream.Error{}, "",
			`<stream:error><undefined-condition xmlns="urn:ietf:params:xml:ns:xmpp-streams"/></stream:error>`},
	} {
		if got := string(StreamErrorBytes(tc.se, tc.text)); got != tc.want {
			t.Errorf("%d: StreamErrorBytes =\n%s\nwant\n%s", i, got, tc.want)
		}
		// It is well-formed inside a stream that declares the prefix.
		_, els, err := readAll(headerFor(NSClient)+tc.want+streamEnd, Limits{})
		if err != io.EOF || len(els) != 1 || !els[0].Is(NSStream, "error") {
			t.Errorf("%d: re-parse: %v, %v", i, els, err)
		} else if got := els[0].ChildText(NSStreams, "text"); got != tc.text {
			t.Errorf("%d: re-parsed text %q", i, got)
		}
	}
}

func TestAsStreamError(t *testing.T) {
	wrapped := fmt.Errorf("outer: %w", fmt.Errorf("%w: detail", stream.PolicyViolation))
	if se, ok := AsStreamError(wrapped); !ok || se.Err != "policy-violation" {
		t.Errorf("AsStreamError(wrapped) = %v, %v", se, ok)
	}
	for _, err := range []error{nil, io.EOF, errors.New("policy-violation")} {
		if se, ok := AsStreamError(err); ok {
			t.Errorf("AsStreamError(%v) = %v, true", err, se)
		}
	}
}

func TestIsStanza(t *testing.T) {
	for i, tc := range []struct {
		e         *Element
		stanza    bool
		isRequest bool
	}{
		{New("", "message"), true, false},
		{New("", "presence"), true, false},
		{New("", "iq", "type", "get"), true, true},
		{New("", "iq", "type", "set"), true, true},
		{New("", "iq", "type", "result"), true, false},
		{New("", "iq", "type", "error"), true, false},
		{New("", "iq"), true, false},
		{New(NSClient, "message"), false, false},
		{New(NSStream, "features"), false, false},
		{New("", "body"), false, false},
		{nil, false, false},
	} {
		if got := IsStanza(tc.e); got != tc.stanza {
			t.Errorf("%d: IsStanza(%v) = %v", i, tc.e, got)
		}
		if tc.e == nil {
			continue
		}
		if got := IsRequest(tc.e); got != tc.isRequest {
			t.Errorf("%d: IsRequest(%v) = %v", i, tc.e, got)
		}
	}
}
