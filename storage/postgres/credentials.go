package postgres

import (
	"errors"
	"fmt"
	"math"

	"parley.im/parley/storage"
)

// checkCredentials rejects a credential set that no SCRAM derivation
// produces, before anything is written. Two credentials for one hash would
// make a login ambiguous; the iteration bound rejects here, with a clear error, a value that the
// integer column would refuse, and keeps both backends alike. The
// errors name no account and no secret.
func checkCredentials(creds []storage.Credential) error {
	seen := make(map[string]bool, len(creds))
	for _, c := range creds {
		switch {
		case c.Hash == "":
			return errors.New("postgres: credential without a hash name")
		case seen[c.Hash]:
			return fmt.Errorf("postgres: two credentials for %q", c.Hash)
		case c.Iterations < 1 || c.Iterations > math.MaxInt32:
			return fmt.Errorf("postgres: credential for %q: iteration count out of range", c.Hash)
		case len(c.Salt) == 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0:
			return fmt.Errorf("postgres: credential for %q: empty salt or key", c.Hash)
		}
		seen[c.Hash] = true
	}
	return nil
}
