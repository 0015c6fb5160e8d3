// Package register implements XEP-0077 (In-Band Registration) for the
// server's own accounts.
//
// For a logged-in user, always (IQs to the user's own account or to the
// server, as clients address them either way):
//
//   - get: <registered/> with the username (§3.1, already registered).
//   - set with <username/> and <password/>: a password change (§3.3). The
//     username, when given, must be the user's own; an empty password is
//     a bad-request and leaves the password as it was; an overlong or
//     PRECIS-invalid one is not-acceptable. New SCRAM credentials are
//     derived (auth.DeriveCredentials) and replace the old ones at once;
//     sessions stay up.
//   - set with <remove/> as the only child: the account and all its data
//     are deleted (§3.2); the requester gets the IQ result, then every
//     session of the account is closed with the <not-authorized/> stream
//     error.
//   - A request about another account is forbidden; one to the server
//     from a remote entity is not-allowed.
//
// Before authentication, account creation (§3.1, §5: "bootstrapping") is
// OFF unless Options.Enabled, and limited to Options.Hosts when that is
// not empty. The session layer hands the module the IQs a client sends
// before authenticating (PreAuthIQ) and asks it for the stream feature to
// offer then (PreAuthFeatures); it does so only over TLS, or when the
// server does not require TLS. With registration off, a registration
// request gets service-unavailable (§3.1). When on:
//
//   - get: instructions, <username/>, <password/>.
//   - set: the username must be a valid JID localpart, normalized as
//     logins are (PRECIS UsernameCaseMapped); a missing or empty username
//     or password is not-acceptable (§3.1), and so is a password longer
//     than Options.MaxPasswordLength or refused by PRECIS OpaqueString; an
//     existing account is a conflict; more than Options.MaxPerIP creation
//     attempts from one address (an IPv6 /64) in Options.Window get
//     not-acceptable of type wait (§3.1: "too many times"). Attempts that
//     reach the store count, conflicts included, so the limit also slows
//     down username probing.
//
// Invitations (XEP-0445, with Options.Invites): the stream feature
// <register xmlns='urn:xmpp:ibr-token:0'/> is offered before
// authentication, and an IQ set <preauth xmlns='urn:xmpp:pars:0'
// token='…'/> checks the token against storage.Invites: a result for an
// invitation of the host that allows registering and has not expired,
// item-not-found otherwise; each check counts against Options.MaxPerIP
// like a registration attempt. The token is not used yet (§4): it lets the
// following registrations from the same address on the same host, during
// PreAuthWindow, create an account even with Enabled false, the expiry
// having been checked at the preauth. The session layer gives the module
// no handle on the connection, hence the address; a stranger on the same
// address within the window could use the invitee's token, never a token
// of their own making. The account creation takes the invitation first
// (single use, whatever the concurrency), puts it back when the account
// cannot be created (a taken name), refuses another username than the
// one the invitation reserves (not-acceptable), and then makes the new
// account and the inviter mutual contacts (XEP-0379 done by the server:
// both items subscription both; Options.RosterPush tells the inviter's
// clients). Registration without a token refuses a username an unexpired
// invitation reserves (conflict). Tokens are never logged.
//
// Data forms (XEP-0004) and CAPTCHAs (XEP-0158) are not offered.
package register
