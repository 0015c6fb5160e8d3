package webclient

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Info is what the server believes about a request's origin.
type Info struct {
	IP netip.Addr
	// Secure: the client's connection is encrypted end to end up to us, or
	// it cannot be observed (see Of).
	Secure bool
	// Scheme and Host are how the client addressed us (http or https).
	Scheme, Host string
}

// ParsePrefixes parses web.trusted_proxies-style entries: CIDR prefixes
// (masked) or single addresses (as a prefix of their full length).
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, p := range list {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, err
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// InPrefixes reports whether a (unmapped) is in one of list's prefixes.
func InPrefixes(list []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// RemoteAddr is the request's peer address, unmapped; the zero Addr when
// r.RemoteAddr is not an address.
func RemoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// Of works out the client's address and scheme. X-Forwarded-For,
// X-Forwarded-Proto and X-Forwarded-Host are believed only from a trusted
// proxy: the client is the rightmost address in X-Forwarded-For that is not
// itself a trusted proxy, so a client cannot pick its address by sending
// the header.
//
// A request counts as secure when it came over TLS, when a trusted proxy
// says it did (X-Forwarded-Proto: https), or when it comes straight from a
// loopback address with no forwarding header: traffic that never leaves the
// machine cannot be observed by others, so the local web chat over
// http://localhost works without a certificate warning. A proxy on the same
// machine that forwards plain HTTP from elsewhere adds X-Forwarded-For and is
// then not counted as secure unless it is trusted and says https.
func Of(r *http.Request, trusted []netip.Prefix) Info {
	peer := RemoteAddr(r)
	ci := Info{IP: peer, Secure: r.TLS != nil, Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		ci.Scheme = "https"
	}
	xff := r.Header.Values("X-Forwarded-For")
	if InPrefixes(trusted, peer) {
		ci.IP = forwardedFor(xff, trusted, peer)
		if p := strings.ToLower(strings.TrimSpace(firstToken(r.Header.Get("X-Forwarded-Proto")))); p == "https" || p == "http" {
			ci.Scheme = p
			ci.Secure = p == "https"
		}
		if h := firstToken(r.Header.Get("X-Forwarded-Host")); h != "" {
			ci.Host = h
		}
	} else if peer.IsLoopback() && len(xff) == 0 && r.Header.Get("Forwarded") == "" && r.Header.Get("X-Forwarded-Proto") == "" {
		ci.Secure = true
	}
	return ci
}

// forwardedFor picks the client from X-Forwarded-For: walking from the
// right, the first address that is not a trusted proxy.
func forwardedFor(values []string, trusted []netip.Prefix, peer netip.Addr) netip.Addr {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
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
		if !InPrefixes(trusted, client) {
			break
		}
	}
	return client
}

func firstToken(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}
