package bosh

import (
	"net/http"
	"net/netip"

	"parley.im/parley/web/webclient"
)

// ProxyClient returns a Config.Client that applies the web server's rule
// (web.trusted_proxies), package webclient's: X-Forwarded-For and
// X-Forwarded-Proto are believed only from a trusted proxy, the client being
// the rightmost address that is not itself one; a request is secure over
// TLS, when a trusted proxy says https, or straight from loopback with no
// forwarding header (the local web chat over http://localhost).
func ProxyClient(trusted []netip.Prefix) func(*http.Request) (netip.Addr, bool) {
	return func(r *http.Request) (netip.Addr, bool) {
		ci := webclient.Of(r, trusted)
		return ci.IP, ci.Secure
	}
}
