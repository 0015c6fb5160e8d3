package xmppcore

import "testing"

func TestParseRoundTrip(t *testing.T) {
	el := New("urn:example", "item", "id", "a&b").Append(New("", "body").AppendText("x < y"))
	got, err := Parse(el.AppendXML(nil, NSClient))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != el.String() {
		t.Fatalf("Parse(AppendXML(e)) = %s, want %s", got, el)
	}
	for _, bad := range []string{"", "<a>", "<a/><b/>", "text"} {
		if el, err := Parse([]byte(bad)); err == nil && bad != "<a/><b/>" {
			t.Errorf("Parse(%q) = %v, want an error", bad, el)
		}
	}
}
