package parley_test

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the coturn REST scheme is HMAC-SHA1
	"encoding/base64"
	"strings"
	"testing"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
)

// The rows of docs/xeps.md for what phones need besides stream management
// (external services, push, invitations), with their live checks. They
// join the tables of docs_test.go here, so that the features can be added
// without rewriting that file's literals.
func init() {
	discoFeatures["urn:xmpp:extdisco:2"] = "XEP-0215"
	specChecks["XEP-0215"] = checkExtDisco
}

const nsExtDisco = "urn:xmpp:extdisco:2"

// checkExtDisco runs a server with a STUN and a restricted TURN service
// and checks the list and the credentials, recomputing the password.
func checkExtDisco(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0215")
	// The default server has no service: an empty list.
	res := mustResult(t, p.alice, "get", "localhost", `<services xmlns='`+nsExtDisco+`'/>`)
	if s := res.Child(nsExtDisco, "services"); s == nil || s.ChildCount() != 0 {
		t.Errorf("services with none configured: %s", res)
	}
	srv := xmpptest.Start(t, func(c *config.Config) {
		c.ExtDisco.Services = []config.ExtService{
			{Type: "stun", Host: "stun.example.org", Transport: "udp"},
			{Type: "turn", Host: "turn.example.org", Port: 3478, Transport: "udp", Restricted: true, Secret: "docs secret"},
		}
	})
	srv.AddUser(t, "x0215", testPassword)
	c, _ := xmpptest.Login(t, srv, "x0215", testPassword, "r")
	res = mustResult(t, c, "get", "localhost", `<services xmlns='`+nsExtDisco+`'/>`)
	var types []string
	for s := range res.Child(nsExtDisco, "services").Children() {
		types = append(types, s.Attr("type")+" "+s.Attr("host")+":"+s.Attr("port"))
	}
	if strings.Join(types, ",") != "stun stun.example.org:3478,turn turn.example.org:3478" {
		t.Errorf("services: %s", res)
	}
	res = mustResult(t, c, "get", "localhost", `<credentials xmlns='`+nsExtDisco+`'><service type='turn' host='turn.example.org'/></credentials>`)
	s := res.Child(nsExtDisco, "credentials").Child(nsExtDisco, "service")
	user, pass := s.Attr("username"), s.Attr("password")
	mac := hmac.New(sha1.New, []byte("docs secret"))
	mac.Write([]byte(user))
	if !strings.HasSuffix(user, ":x0215@localhost") || pass != base64.StdEncoding.EncodeToString(mac.Sum(nil)) || s.Attr("expires") == "" {
		t.Errorf("TURN credentials do not follow the coturn REST scheme: %s", res)
	}
	if r := request(t, c, "get", "localhost", `<credentials xmlns='`+nsExtDisco+`'><service type='turn' host='other.example.org'/></credentials>`); condition(r) != "item-not-found" {
		t.Errorf("credentials for an unknown service: %s, want item-not-found", r)
	}
}
