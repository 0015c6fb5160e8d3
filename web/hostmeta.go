package web

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
)

// XEP-0156 link relations.
const (
	RelWebSocket = "urn:xmpp:alt-connections:websocket"
	RelBOSH      = "urn:xmpp:alt-connections:xbosh"
)

type hostLink struct {
	Rel  string `json:"rel" xml:"rel,attr"`
	Href string `json:"href" xml:"href,attr"`
}

// links are the endpoints a client of this request should use: wss:// and
// https:// when the request came over TLS (or public_url is https).
func (s *Server) links(r *http.Request) []hostLink {
	base := s.baseURL(r)
	prefix := strings.TrimSuffix(base.Path, "/")
	var out []hostLink
	if s.cfg.Web.WebSocket.Enabled && s.c2s != nil {
		ws := *base
		ws.Scheme = "ws"
		if base.Scheme == "https" {
			ws.Scheme = "wss"
		}
		ws.Path = prefix + WebSocketPath
		out = append(out, hostLink{Rel: RelWebSocket, Href: ws.String()})
	}
	if s.boshMounted {
		b := *base
		b.Path = prefix + BOSHPath
		out = append(out, hostLink{Rel: RelBOSH, Href: b.String()})
	}
	return out
}

// serveHostMeta answers /.well-known/host-meta (XRD) and host-meta.json
// (JRD) with the connection endpoints (XEP-0156 §3), readable by pages
// of any origin.
func (s *Server) serveHostMeta(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	w.Header().Set("Cache-Control", "max-age=300")
	links := s.links(r)
	if strings.HasSuffix(r.URL.Path, ".json") {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Links []hostLink `json:"links"`
		}{links})
		return
	}
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	out, _ := xml.MarshalIndent(struct {
		XMLName xml.Name   `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []hostLink `xml:"Link"`
	}{Links: links}, "", "  ")
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
	_, _ = w.Write([]byte("\n"))
}

// setCORS lets pages of any origin read the response without credentials
// (XEP-0156 §4); it is set on host-meta only.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
}

func serveCORSPreflight(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/.well-known/host-meta" && r.URL.Path != "/.well-known/host-meta.json" {
		http.NotFound(w, r)
		return
	}
	setCORS(w.Header())
	w.Header().Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
