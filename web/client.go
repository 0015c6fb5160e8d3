package web

import (
	"net/http"
	"net/url"
	"strings"

	"parley.im/parley/web/webclient"
)

// clientInfo is what the server believes about a request's origin.
type clientInfo = webclient.Info

// client works out the client's address and scheme by web.trusted_proxies
// (the rule is package webclient's, which web/bosh applies too).
func (s *Server) client(r *http.Request) clientInfo {
	return webclient.Of(r, s.trusted)
}

// baseURL is where clients reach this server: web.public_url, else the
// request's own scheme and host. It has no trailing slash.
func (s *Server) baseURL(r *http.Request) *url.URL {
	if pu := s.cfg.Web.PublicURL; pu != "" {
		if u, err := url.Parse(strings.TrimSuffix(pu, "/")); err == nil {
			return u
		}
	}
	ci := s.client(r)
	return &url.URL{Scheme: ci.Scheme, Host: ci.Host}
}
