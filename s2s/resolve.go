package s2s

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
)

// resolve lists where to reach a domain's server, in the order to try:
// the static map alone when it names the domain; otherwise the
// _xmpps-server._tcp (direct TLS) and _xmpp-server._tcp SRV targets, each
// set by priority (RFC 2782 weights are not randomized: the order is
// stable), direct TLS first at equal priority (XEP-0368); and with no SRV
// record at all, the domain itself on port 5269 (RFC 6120 §3.2.2). A
// "." target (service decidedly not available) yields nothing.
func (s *Service) resolve(ctx context.Context, domain string) []Target {
	if t, ok := s.cfg.StaticHosts[domain]; ok {
		return []Target{t}
	}
	type rec struct {
		t    Target
		prio uint16
		w    uint16
	}
	var recs []rec
	found := false
	for _, svc := range []struct {
		name   string
		direct bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, srvs, err := s.deps.Resolver.LookupSRV(ctx, svc.name, "tcp", domain)
		if err != nil || len(srvs) == 0 {
			continue
		}
		found = true
		for _, r := range srvs {
			host := strings.TrimSuffix(r.Target, ".")
			if host == "" {
				continue
			}
			recs = append(recs, rec{Target{net.JoinHostPort(host, strconv.Itoa(int(r.Port))), svc.direct}, r.Priority, r.Weight})
		}
	}
	if !found {
		return []Target{{Addr: net.JoinHostPort(domain, "5269")}}
	}
	slices.SortStableFunc(recs, func(a, b rec) int {
		if a.prio != b.prio {
			return int(a.prio) - int(b.prio)
		}
		if a.t.DirectTLS != b.t.DirectTLS {
			if a.t.DirectTLS {
				return -1
			}
			return 1
		}
		return int(b.w) - int(a.w)
	})
	out := make([]Target, len(recs))
	for i, r := range recs {
		out[i] = r.t
	}
	return out
}

// ParseStaticHost parses a configuration entry "domain=host:port" or
// "domain=tls:host:port".
func ParseStaticHost(e string) (string, Target, bool) {
	d, addr, ok := strings.Cut(e, "=")
	if !ok {
		return "", Target{}, false
	}
	t := Target{Addr: addr}
	if a, ok := strings.CutPrefix(addr, "tls:"); ok {
		t = Target{Addr: a, DirectTLS: true}
	}
	return d, t, true
}
