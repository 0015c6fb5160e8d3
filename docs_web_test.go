package parley_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.im/parley/xmppcore"
)

// The rows of docs/xeps.md for the web transports (package web), checked
// against the probe's running server.
func init() {
	specChecks["RFC 7395"] = func(t *testing.T, p *probe) {
		plain, _ := p.srv.WebAddrs()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		url := "ws://" + plain[0].String() + "/xmpp-websocket"
		if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a WebSocket without the xmpp subprotocol was not refused with 400: %v", err)
		}
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if err := ws.Write(ctx, websocket.MessageText, []byte(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`)); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"open", "features"} {
			_, b, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			el, err := xmppcore.Parse(b)
			if err != nil || el.Local != want {
				t.Fatalf("expected <%s/> as one frame, got %q (%v)", want, b, err)
			}
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`))
		if _, b, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(b), "<close") {
			t.Errorf("the server did not answer <close/> with <close/>: %q %v", b, err)
		}
	}
	specChecks["XEP-0156"] = func(t *testing.T, p *probe) {
		plain, _ := p.srv.WebAddrs()
		resp, err := http.Get("http://" + plain[0].String() + "/.well-known/host-meta.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var jrd struct {
			Links []struct{ Rel, Href string } `json:"links"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&jrd); err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("host-meta.json has no CORS header: %v", resp.Header)
		}
		for _, l := range jrd.Links {
			if l.Rel == "urn:xmpp:alt-connections:websocket" && strings.HasSuffix(l.Href, "/xmpp-websocket") {
				return
			}
		}
		t.Errorf("host-meta.json lists no WebSocket endpoint: %+v", jrd.Links)
	}
}
