package s2s

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// permitted reports whether a remote domain may be reached or accepted:
// never when it or a parent domain is denied; otherwise with federation
// on, or when it is in the allow list.
func (s *Service) permitted(domain string) bool {
	for d := domain; d != ""; {
		if s.deny[d] {
			return false
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return s.cfg.Enabled || s.allow[domain]
}

// dialbackKey is the XEP-0220 §2.4 recommended key:
// HMAC-SHA256(SHA256(secret), receiving + " " + originating + " " + id), hex.
func (s *Service) dialbackKey(receiving, originating, id string) string {
	mac := hmac.New(sha256.New, s.dbSecret[:])
	mac.Write([]byte(receiving + " " + originating + " " + id))
	return hex.EncodeToString(mac.Sum(nil))
}

// checkKey compares a key in constant time.
func (s *Service) checkKey(receiving, originating, id, key string) bool {
	return hmac.Equal([]byte(s.dialbackKey(receiving, originating, id)), []byte(key))
}
