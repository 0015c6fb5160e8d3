package muc

import (
	"parley.im/parley/xmppcore"
)

// XEP-0004 data forms, as much as the service needs.

// dataForm builds a form of type typ with its FORM_TYPE.
func dataForm(typ, formType, title, instructions string, fields ...*xmppcore.Element) *xmppcore.Element {
	x := xmppcore.New(NSData, "x", "type", typ)
	if title != "" {
		x.Append(xmppcore.New(NSData, "title").AppendText(title))
	}
	if instructions != "" {
		x.Append(xmppcore.New(NSData, "instructions").AppendText(instructions))
	}
	x.Append(field("FORM_TYPE", "hidden", "", formType))
	return x.Append(fields...)
}

// field builds a field with its values.
func field(v, typ, label string, values ...string) *xmppcore.Element {
	f := xmppcore.New(NSData, "field", "var", v)
	if typ != "" {
		f.SetAttr("type", typ)
	}
	if label != "" {
		f.SetAttr("label", label)
	}
	for _, val := range values {
		f.Append(xmppcore.New(NSData, "value").AppendText(val))
	}
	return f
}

// withOptions adds <option/>s (value, label pairs) to a field.
func withOptions(f *xmppcore.Element, opts ...[2]string) *xmppcore.Element {
	for _, o := range opts {
		f.Append(xmppcore.New(NSData, "option", "label", o[1]).Append(xmppcore.New(NSData, "value").AppendText(o[0])))
	}
	return f
}

// required marks a field required.
func required(f *xmppcore.Element) *xmppcore.Element {
	return f.Append(xmppcore.New(NSData, "required"))
}

func boolValue(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// findForm returns the data form child of el whose FORM_TYPE is formType.
func findForm(el *xmppcore.Element, formType string) *xmppcore.Element {
	for c := range el.Children() {
		if c.Is(NSData, "x") && first(formValues(c)["FORM_TYPE"]) == formType {
			return c
		}
	}
	return nil
}

// formValues returns the values of a submitted form's fields by var.
func formValues(x *xmppcore.Element) map[string][]string {
	vals := make(map[string][]string)
	for f := range x.Children() {
		if !f.Is(NSData, "field") {
			continue
		}
		v := f.Attr("var")
		if v == "" {
			continue
		}
		list := []string{}
		for val := range f.Children() {
			if val.Is(NSData, "value") {
				list = append(list, val.Text())
			}
		}
		vals[v] = list
	}
	return vals
}

// parseBool reads a XEP-0004 boolean.
func parseBool(s string) (v, ok bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// formBool is a boolean field's value, false when absent or invalid.
func formBool(vs []string) bool {
	v, _ := parseBool(first(vs))
	return v
}
