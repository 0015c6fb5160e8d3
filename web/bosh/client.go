package bosh

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ProxyClient returns a Config.Client that applies the web server's rule
// (web.trusted_proxies): X-Forwarded-For and X-Forwarded-Proto are believed
// only from a trusted proxy, the client being the rightmost address that is
// not itself one; a request is secure over TLS, when a trusted proxy says
// https, or straight from loopback with no forwarding header (the local web
// chat over http://localhost). It is the same rule as package web's, which
// keeps its version unexported.
func ProxyClient(trusted []netip.Prefix) func(*http.Request) (netip.Addr, bool) {
	return func(r *http.Request) (netip.Addr, bool) {
		peer := remoteAddr(r)
		secure := r.TLS != nil
		xff := r.Header.Values("X-Forwarded-For")
		switch {
		case inPrefixes(trusted, peer):
			client := peer
			var hops []string
			for _, v := range xff {
				hops = append(hops, strings.Split(v, ",")...)
			}
			for i := len(hops) - 1; i >= 0; i-- {
				h := strings.TrimSpace(hops[i])
				if host, _, err := net.SplitHostPort(h); err == nil {
					h = host
				}
				a, err := netip.ParseAddr(strings.Trim(h, "[]"))
				if err != nil {
					break
				}
				client = a.Unmap()
				if !inPrefixes(trusted, client) {
					break
				}
			}
			proto := r.Header.Get("X-Forwarded-Proto")
			if i := strings.IndexByte(proto, ','); i >= 0 {
				proto = proto[:i]
			}
			if p := strings.ToLower(strings.TrimSpace(proto)); p == "https" || p == "http" {
				secure = p == "https"
			}
			return client, secure
		case peer.IsLoopback() && len(xff) == 0 && r.Header.Get("Forwarded") == "" && r.Header.Get("X-Forwarded-Proto") == "":
			return peer, true
		}
		return peer, secure
	}
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func inPrefixes(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
