package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"parley.im/parley/config"
)

func testServer(t testing.TB, trusted ...string) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Web.TrustedProxies = trusted
	s, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientAddress(t *testing.T) {
	s := testServer(t, "10.0.0.0/8")
	for i, tc := range []struct {
		remote, xff, proto string
		ip                 string
		secure             bool
	}{
		{"192.0.2.1:1000", "", "", "192.0.2.1", false},
		{"192.0.2.1:1000", "198.51.100.7", "https", "192.0.2.1", false}, // not a trusted proxy
		{"10.1.2.3:1000", "198.51.100.7", "https", "198.51.100.7", true},
		{"10.1.2.3:1000", "198.51.100.7, 10.9.9.9", "http", "198.51.100.7", false},
		{"10.1.2.3:1000", "203.0.113.5, 198.51.100.7", "https", "198.51.100.7", true}, // the client cannot choose
		{"10.1.2.3:1000", "garbage", "", "10.1.2.3", false},
		{"127.0.0.1:1000", "", "", "127.0.0.1", true},              // local, not proxied
		{"127.0.0.1:1000", "198.51.100.7", "", "127.0.0.1", false}, // a local proxy that is not trusted
		{"[::1]:1000", "", "", "::1", true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		ci := s.client(r)
		if ci.IP != netip.MustParseAddr(tc.ip) || ci.Secure != tc.secure {
			t.Errorf("%d: got %s secure=%v, want %s secure=%v", i, ci.IP, ci.Secure, tc.ip, tc.secure)
		}
	}
}

// FuzzClient feeds arbitrary forwarding headers to the client address
// logic, which must never panic and must return either the peer or an
// address named in the header.
func FuzzClient(f *testing.F) {
	s := testServer(f, "10.0.0.0/8", "::1")
	f.Add("10.0.0.1:5", "1.2.3.4, 10.0.0.2", "https", "example.org")
	f.Add("[::1]:5", "[2001:db8::1]:443, ::1", "http", "")
	f.Add("10.0.0.1:5", ",,,", "HTTPS,http", "a,b")
	f.Fuzz(func(t *testing.T, remote, xff, proto, host string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		ci := s.client(r)
		if ci.Scheme != "http" && ci.Scheme != "https" {
			t.Fatalf("scheme %q", ci.Scheme)
		}
		_ = s.baseURL(r).String()
	})
}
