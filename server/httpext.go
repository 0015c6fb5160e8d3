package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"

	"parley.im/parley/upload"
	"parley.im/parley/web"
	"parley.im/parley/web/bosh"
	"parley.im/parley/xmppcore"
)

// UploadPath is where the web server serves HTTP file upload's URLs.
const UploadPath = "/upload/"

// newUpload builds the XEP-0363 module when [upload] is enabled and the web
// server has a listener to serve its URLs (nil otherwise).
func (s *Server) newUpload(secret []byte) *upload.Upload {
	u := s.cfg.Upload
	if !u.Enabled {
		return nil
	}
	if len(s.cfg.Web.HTTP) == 0 && len(s.cfg.Web.HTTPS) == 0 {
		s.log.Warn("upload: not run: [web] has no http or https listener to serve the files")
		return nil
	}
	dir := u.Dir
	if dir == "" {
		dir = filepath.Join(s.cfg.DataDir, "upload")
	}
	return upload.New(upload.Options{
		Subdomain: u.Subdomain, Name: u.Name, Dir: dir, BaseURL: s.uploadBaseURL,
		MaxFileSize: int64(u.MaxFileSize), Quota: int64(u.Quota), Expiry: u.Expiry,
		SlotTimeout: u.SlotTimeout, MaxPendingSlots: u.MaxPendingSlots, MaxConcurrent: u.MaxConcurrent,
		Secret: secret,
	})
}

// uploadBaseURL is the URL of UploadPath for a host: upload.url, else
// web.public_url, else this server's own listeners: plain HTTP for
// "localhost" when there is a plain listener (the local web chat, whose page
// is plain HTTP and would not accept a self-signed certificate), else
// HTTPS, else plain HTTP, on the host's name and the listener's port.
func (s *Server) uploadBaseURL(host string) string {
	if u := s.cfg.Upload.URL; u != "" {
		return strings.TrimSuffix(u, "/") + "/"
	}
	if u := s.cfg.Web.PublicURL; u != "" {
		return strings.TrimSuffix(u, "/") + UploadPath
	}
	plain, secure := s.WebAddrs()
	hostport := func(a net.Addr) string {
		_, port, _ := net.SplitHostPort(a.String())
		return net.JoinHostPort(host, port)
	}
	switch {
	case len(plain) > 0 && (host == "localhost" || len(secure) == 0):
		return "http://" + hostport(plain[0]) + UploadPath
	case len(secure) > 0:
		return "https://" + hostport(secure[0]) + UploadPath
	}
	return "http://" + host + UploadPath
}

// mountHTTPExtras mounts BOSH (XEP-0206) and the upload URLs on the web
// server.
func (s *Server) mountHTTPExtras(log *slog.Logger) {
	if s.web == nil {
		return
	}
	if s.upload != nil {
		s.web.Handle(UploadPath, http.StripPrefix(strings.TrimSuffix(UploadPath, "/"), s.upload.Handler()))
	}
	b := s.cfg.Web.BOSH
	if !b.Enabled {
		return
	}
	var trusted []netip.Prefix
	for _, p := range s.cfg.Web.TrustedProxies {
		if pr, err := netip.ParsePrefix(p); err == nil {
			trusted = append(trusted, pr)
		} else if a, err := netip.ParseAddr(p); err == nil {
			trusted = append(trusted, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	h := bosh.New(bosh.Config{
		Serve: s.c2s.ServeFramed, Hosts: s.router.IsLocalHost,
		MaxWait: b.MaxWait, MaxHold: b.MaxHold, Inactivity: b.Inactivity, MaxPause: b.MaxPause,
		Polling: b.Polling, MaxSessions: b.MaxSessions, AllowedOrigins: b.AllowedOrigins,
		MaxFrameSize: s.c2s.MaxFrameSize(),
		Limits: xmppcore.Limits{MaxStanzaSize: s.cfg.Limits.MaxStanzaSize, MaxDepth: s.cfg.Limits.MaxDepth,
			MaxHeaderSize: s.cfg.Limits.MaxStreamHeader},
		Client: bosh.ProxyClient(trusted),
		Logger: log,
	})
	s.web.Handle(web.BOSHPath, h)
	// Held long polls are answered at once when the web server stops, so
	// that they do not hold its shutdown up.
	s.web.OnShutdown(h.Shutdown)
}
