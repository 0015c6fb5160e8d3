package web

import (
	"embed"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed static
var staticFiles embed.FS

// ChatAssetsPath is where the Converse.js dist directory is served.
const ChatAssetsPath = "/chat/dist/"

// chatCSP allows nothing but this server: no CDN, no web fonts or images
// from elsewhere. 'wasm-unsafe-eval' is for Converse.js's OMEMO library
// (WebAssembly); inline styles for the style attributes its templates set.
// connect-src adds the WebSocket URLs of the page's own host explicitly,
// since browsers differ on whether 'self' covers ws: and wss:. With
// web.public_url set, its origin is this server too (uploads name it), and
// so are the hosts' names on the web ports: a page opened at 127.0.0.1 gets
// upload URLs on http://localhost:5280.
func (s *Server) chatCSP(host string) string {
	self, ws := "'self'", "ws://"+host+" wss://"+host
	if u, err := url.Parse(s.cfg.Web.PublicURL); err == nil && u.Host != "" {
		self += " " + u.Scheme + "://" + u.Host
		ws += " ws://" + u.Host + " wss://" + u.Host
	}
	plain, secure := s.Addrs()
	for _, h := range s.cfg.HostNames() {
		for _, a := range plain {
			if _, port, err := net.SplitHostPort(a.String()); err == nil {
				self += " http://" + net.JoinHostPort(h, port)
			}
		}
		for _, a := range secure {
			if _, port, err := net.SplitHostPort(a.String()); err == nil {
				self += " https://" + net.JoinHostPort(h, port)
			}
		}
	}
	return "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
		"img-src " + self + " data: blob:; media-src " + self + " blob:; font-src 'self' data:; " +
		"connect-src " + self + " " + ws + "; worker-src 'self' blob:; " +
		"object-src 'none'; frame-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
}

var chatPage = template.Must(template.New("chat").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
{{if .Installed}}<link rel="stylesheet" href="{{.Assets}}converse.min.css">
<script id="parley-config" type="application/json">{{.Config}}</script>
<script type="module" src="{{.Assets}}converse.min.js"></script>
<script type="module" src="/chat/parley-chat.js"></script>
{{else}}<style>body{font-family:sans-serif;max-width:42em;margin:3em auto;line-height:1.5;padding:0 1em}code,pre{background:#eee;padding:.1em .3em}</style>{{end}}
</head>
<body class="converse-fullscreen">
{{if not .Installed}}<h1>The web chat is not installed</h1>
<p>This server runs, but the files of its web chat (Converse.js) are missing: they
were not found in <code>{{.Dir}}</code> (setting <code>web.chat.dir</code>).</p>
<p>To install them, run in Parley's source tree, with Node.js and npm installed:</p>
<pre>cd web/chat &amp;&amp; npm ci</pre>
<p>(<code>make run</code> and <code>scripts/deps.sh</code> do this for you when npm is
there.) Then reload this page. When Parley runs from elsewhere, copy
<code>web/chat/node_modules/converse.js/dist</code> next to it and point
<code>web.chat.dir</code> at the copy.</p>
<p>Any XMPP client can still connect to this server, over TCP or over WebSocket at
<code>{{.WebSocket}}</code>.</p>
{{end}}</body>
</html>
`))

// mountChat serves the page at / and /chat, its start-up script, and the
// Converse.js files from web.chat.dir under /chat/dist/.
func (s *Server) mountChat() {
	dir := s.cfg.Web.Chat.Dir
	s.mux.HandleFunc("GET /{$}", s.serveChat)
	s.mux.HandleFunc("GET /chat", s.serveChat)
	s.mux.HandleFunc("GET /chat/{$}", s.serveChat)
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		http.ServeFile(w, r, filepath.Join(dir, "images", "favicon.ico"))
	})
	s.mux.HandleFunc("GET /chat/parley-chat.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, staticFiles, "static/parley-chat.js")
	})
	files := http.StripPrefix(ChatAssetsPath, http.FileServer(noDirFS{http.Dir(dir)}))
	s.mux.Handle("GET "+ChatAssetsPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", s.chatCSP(r.Host))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
}

type chatSettings struct {
	Domain        string `json:"domain"`
	MUCDomain     string `json:"muc_domain,omitempty"`
	Registration  bool   `json:"registration"`
	AssetsPath    string `json:"assets_path"`
	WebSocketPath string `json:"websocket_path"`
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) {
	domain := s.chatDomain(r)
	settings := chatSettings{
		Domain:        domain,
		Registration:  s.cfg.Register.Enabled && (len(s.cfg.Register.Hosts) == 0 || slices.Contains(s.cfg.Register.Hosts, domain)),
		AssetsPath:    ChatAssetsPath,
		WebSocketPath: WebSocketPath,
	}
	if s.cfg.MUC.Enabled {
		settings.MUCDomain = s.cfg.MUC.Subdomain + "." + domain
	}
	js, _ := json.Marshal(settings)
	dir := s.cfg.Web.Chat.Dir
	_, err := os.Stat(filepath.Join(dir, "converse.min.js"))
	installed := err == nil
	ws := s.baseURL(r)
	ws.Scheme = map[string]string{"https": "wss"}[ws.Scheme]
	if ws.Scheme == "" {
		ws.Scheme = "ws"
	}
	ws.Path = strings.TrimSuffix(ws.Path, "/") + WebSocketPath

	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", s.chatCSP(r.Host))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	if !installed {
		s.log.Warn("web chat not installed", "dir", dir)
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	err = chatPage.Execute(w, struct {
		Title, Assets, Dir, WebSocket string
		Installed                     bool
		Config                        template.JS
	}{"Chat on " + domain, ChatAssetsPath, dir, ws.String(), installed, template.JS(js)})
	if err != nil {
		s.log.Debug("web chat page not written", "err", err)
	}
}

// chatDomain is the XMPP domain the page logs into: the host the page was
// asked for when it is a configured host, else the first host.
func (s *Server) chatDomain(r *http.Request) string {
	host := s.client(r).Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if hc, ok := s.cfg.Host(host); ok {
		return hc.Name
	}
	return s.cfg.Hosts[0].Name
}

// noDirFS hides directory listings: a directory without index.html is
// "not found".
type noDirFS struct{ fs http.FileSystem }

func (n noDirFS) Open(name string) (http.File, error) {
	f, err := n.fs.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		idx, err := n.fs.Open(strings.TrimSuffix(name, "/") + "/index.html")
		if err != nil {
			_ = f.Close()
			return nil, os.ErrNotExist
		}
		_ = idx.Close()
	}
	return f, nil
}
