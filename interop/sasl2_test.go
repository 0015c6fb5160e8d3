//go:build unix

package interop_test

import (
	"strings"
	"testing"
)

// TestXmppJSSASL2: @xmpp/client 0.14 (whose SASL2, Bind2 and FAST code is
// not ours) logs in with its password through SASL2 and Bind2 over
// STARTTLS, gets a FAST token, and logs in again with the token alone
// (HT-SHA-256-NONE, a wrong password beside it), getting the same
// stable resource. Debian's slixmpp (1.8) has no SASL2, and nbxmpp (4.2)
// speaks only an old draft of it (<mechanisms/> in urn:xmpp:sasl:2), so
// neither can do this.
func TestXmppJSSASL2(t *testing.T) {
	flags := requireNode(t, "@xmpp/client")
	ctx := testContext(t)
	srv, logs := startServer(t)
	srv.AddUser(t, "alice", "alice-secret")
	const ua = "5f0c7a2e-8d44-4b7e-b0d9-2c3f4a5b6c7d"
	p := startProcess(t, ctx, "xmpp.js", nil, []string{
		"NODE_MODULES=" + nodeModules(t), "XMPP_SERVICE=xmpp://" + srv.StartTLSAddr, "XMPP_USER=alice",
		"XMPP_PASSWORD=alice-secret", "XMPP_UA=" + ua, "CLIENT_TIMEOUT=" + clientTimeout,
		"NODE_TLS_REJECT_UNAUTHORIZED=0", // the test server's self-signed certificate
	}, append(append([]string{"node"}, flags...), script(t, "xmppjs_sasl2.mjs"))...)
	p.mustSucceed(t, ctx)

	seen := map[string]string{}
	for line := range strings.Lines(p.stdout.String()) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			seen[k] = v
		}
	}
	if !strings.HasPrefix(seen["online1"], "alice@localhost/xmppjs/") {
		t.Errorf("first login bound %q, want a Bind2 resource alice@localhost/xmppjs/<id>", seen["online1"])
	}
	if seen["online2"] != seen["online1"] {
		t.Errorf("second login bound %q, want the same stable resource %q", seen["online2"], seen["online1"])
	}
	if !strings.HasPrefix(seen["mechanism1"], "SCRAM-") || seen["token"] != "HT-SHA-256-NONE" || seen["mechanism2"] != "HT-SHA-256-NONE" {
		t.Errorf("mechanisms: first %q, token for %q, second %q; want SCRAM-*, HT-SHA-256-NONE twice", seen["mechanism1"], seen["token"], seen["mechanism2"])
	}
	if !strings.Contains(p.stdout.String(), "ok") {
		t.Fatalf("xmpp.js did not finish: %s", p.stdout)
	}
	// The server agrees: two SASL2 logins, the second with the token.
	if got := authMechanisms(logs.String(), "alice@localhost"); len(got) != 2 || got[1] != "HT-SHA-256-NONE" {
		t.Errorf("server logged logins with %v", got)
	}
	if !strings.Contains(logs.String(), "sasl=2") || !strings.Contains(logs.String(), "FAST token issued") {
		t.Errorf("server log shows no SASL2 login or no token issued")
	}
}
