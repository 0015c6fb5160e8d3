package auth

import (
	"slices"
	"strings"
)

// Mechanism names.
const (
	PLAIN           = "PLAIN"
	SCRAMSHA1       = "SCRAM-SHA-1"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	SCRAMSHA512     = "SCRAM-SHA-512"
	SCRAMSHA512Plus = "SCRAM-SHA-512-PLUS"
)

// mechanismsStrongestFirst puts channel binding first: it defeats a TLS
// man in the middle, which no hash strength does.
var mechanismsStrongestFirst = []string{
	SCRAMSHA512Plus, SCRAMSHA256Plus, SCRAMSHA1Plus,
	SCRAMSHA512, SCRAMSHA256, SCRAMSHA1,
	PLAIN,
}

func isPlus(mech string) bool { return strings.HasSuffix(mech, "-PLUS") }

// scramHashFor returns the hash of a SCRAM mechanism.
func scramHashFor(mech string) (scramHash, bool) {
	switch mech {
	case SCRAMSHA1, SCRAMSHA1Plus:
		return hashSHA1, true
	case SCRAMSHA256, SCRAMSHA256Plus:
		return hashSHA256, true
	case SCRAMSHA512, SCRAMSHA512Plus:
		return hashSHA512, true
	}
	return scramHash{}, false
}

// Mechanisms returns the mechanisms to advertise, strongest first. The
// -PLUS ones appear only when cb has a channel binding type, PLAIN only when
// tlsActive && allowPlain. enabled, if not nil, keeps only the names it
// lists (so an empty non-nil slice disables everything).
func Mechanisms(cb *ChannelBinding, tlsActive, allowPlain bool, enabled []string) []string {
	canBind := len(cb.Types()) > 0
	var out []string
	for _, m := range mechanismsStrongestFirst {
		switch {
		case isPlus(m) && !canBind:
		case m == PLAIN && !(tlsActive && allowPlain):
		case enabled != nil && !slices.Contains(enabled, m):
		default:
			out = append(out, m)
		}
	}
	return out
}
