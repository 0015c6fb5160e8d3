package adhoc

import "parley.im/parley/xmppcore"

// Field is one field of a data form (XEP-0004).
type Field struct {
	Var, Type, Label string
	Values           []string
	Required         bool
}

// Form builds a data form of type typ ("form", "result"...) with a hidden
// FORM_TYPE when formType is not empty.
func Form(typ, formType string, fields ...Field) *xmppcore.Element {
	x := xmppcore.New(NSData, "x", "type", typ)
	if formType != "" {
		fields = append([]Field{{Var: "FORM_TYPE", Type: "hidden", Values: []string{formType}}}, fields...)
	}
	for _, f := range fields {
		el := xmppcore.New(NSData, "field", "var", f.Var)
		if f.Type != "" {
			el.SetAttr("type", f.Type)
		}
		if f.Label != "" {
			el.SetAttr("label", f.Label)
		}
		if f.Required {
			el.Append(xmppcore.New(NSData, "required"))
		}
		for _, v := range f.Values {
			el.Append(xmppcore.New(NSData, "value").AppendText(v))
		}
		x.Append(el)
	}
	return x
}

// Value returns the first value of field v of a submitted form, and
// whether the form has the field.
func Value(form *xmppcore.Element, v string) (string, bool) {
	if form == nil {
		return "", false
	}
	for f := range form.Children() {
		if f.Is(NSData, "field") && f.Attr("var") == v {
			return f.ChildText(NSData, "value"), true
		}
	}
	return "", false
}

// Bool reads a boolean field ("1" or "true"); absent or empty is def.
func Bool(form *xmppcore.Element, v string, def bool) (value, ok bool) {
	s, present := Value(form, v)
	switch {
	case !present || s == "":
		return def, true
	case s == "1" || s == "true":
		return true, true
	case s == "0" || s == "false":
		return false, true
	}
	return false, false
}
