package pubsub

import (
	"mellium.im/xmpp/stanza"

	"parley.im/parley/xmppcore"
)

// form is a submitted XEP-0004 data form: its type, FORM_TYPE and the
// values of its other fields by var, in order.
type form struct {
	typ      string
	formType string
	vars     []string
	values   map[string][]string
}

var errBadForm = stanzaErr(stanza.BadRequest, "malformed data form")

// parseForm reads a jabber:x:data form. A field without var (other than
// fixed), or a var given twice, makes the form malformed.
func parseForm(x *xmppcore.Element) (*form, error) {
	if !x.Is(NSData, "x") {
		return nil, errBadForm
	}
	f := &form{typ: x.Attr("type"), values: map[string][]string{}}
	for field := range x.Children() {
		if !field.Is(NSData, "field") {
			continue
		}
		v := field.Attr("var")
		if v == "" {
			if field.Attr("type") == "fixed" {
				continue
			}
			return nil, errBadForm
		}
		var values []string
		for val := range field.Children() {
			if val.Is(NSData, "value") {
				values = append(values, val.Text())
			}
		}
		if v == "FORM_TYPE" {
			if f.formType != "" || len(values) != 1 {
				return nil, errBadForm
			}
			f.formType = values[0]
			continue
		}
		if _, dup := f.values[v]; dup {
			return nil, errBadForm
		}
		f.vars = append(f.vars, v)
		f.values[v] = values
	}
	return f, nil
}

// formBuilder builds a form to send.
type formBuilder struct{ x *xmppcore.Element }

func newForm(typ, formType string) formBuilder {
	x := xmppcore.New(NSData, "x", "type", typ)
	x.Append(xmppcore.New(NSData, "field", "var", "FORM_TYPE", "type", "hidden").
		Append(xmppcore.New(NSData, "value").AppendText(formType)))
	return formBuilder{x}
}

// field adds a field; options are the choices of a list field.
func (b formBuilder) field(v, typ, label string, values, options []string) {
	f := xmppcore.New(NSData, "field", "var", v)
	if typ != "" {
		f.SetAttr("type", typ)
	}
	if label != "" {
		f.SetAttr("label", label)
	}
	for _, o := range options {
		f.Append(xmppcore.New(NSData, "option").Append(xmppcore.New(NSData, "value").AppendText(o)))
	}
	for _, v := range values {
		f.Append(xmppcore.New(NSData, "value").AppendText(v))
	}
	b.x.Append(f)
}
