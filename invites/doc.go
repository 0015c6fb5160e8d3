// Package invites implements invitations (XEP-0401, Ad-hoc Account
// Invitation Generation): the ad-hoc commands that create them, and
// Create, which the `parley invite create` command uses too.
//
// Two commands (XEP-0050, through module/adhoc) on each host:
//
//   - urn:xmpp:invite#invite, "Invite user": for host admins ([[host]]
//     admins), or every user with Options.AllowUsers. Completed at once
//     with a contact invitation xmpp:inviter@host?roster;preauth=TOKEN;ibr=y:
//     the token registers an account (XEP-0445) that becomes a mutual
//     contact of the inviter (XEP-0379).
//   - urn:xmpp:invite#create-account, "Create account": for admins only. A
//     form asks for an optional username (reserved until the invitation
//     expires: a taken or reserved one is refused) and whether the new
//     account is to be subscribed to the admin; the result is
//     xmpp:[username@]host?register;preauth=TOKEN.
//
// The result form (FORM_TYPE urn:xmpp:invite#invitation) carries uri,
// landing-url (Options.LandingURL with the token appended, when set) and
// expire. Tokens are 32 random letters and digits; storage keeps only
// their SHA-256 (storage.Invites), with the expiry (Options.TTL), and a
// purge deletes expired invitations hourly.
//
// A contact invitation's token in a subscription request from an existing
// user (<presence type='subscribe'><preauth xmlns='urn:xmpp:pars:0'
// token='…'/></presence>, XEP-0379 §3.4) is redeemed here, ahead of the
// presence module: the inviter pre-approves the requester (RFC 6121
// §3.4), so the request is answered subscribed at once, and a request
// from the inviter goes back. Redeeming a token at registration is the
// registration module's business (register/: the pre-auth IQ of XEP-0445
// and the account creation with the mutual subscription).
//
// The module also owns the ad-hoc command service (module/adhoc) and
// registers its IQ handler, feature and disco hook. It must not log
// tokens.
package invites
