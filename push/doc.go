// Package push implements XEP-0357 (Push Notifications) for the server's
// accounts: clients register their app server's push service, and the
// server publishes a notification to it when a message arrives that the
// device would otherwise not learn about.
//
// Registration (IQ sets to one's own bare JID, or without 'to'):
//
//   - <enable jid node/>, with an optional XEP-0004 form whose FORM_TYPE is
//     http://jabber.org/protocol/pubsub#publish-options: stored per account
//     (storage.Push), replacing the registration of the same service and
//     node. A missing jid or node is bad-request, an unparseable jid
//     jid-malformed, a jid on one of the server's own hosts (no push
//     service lives there) not-acceptable, a domain outside
//     Options.Services (when set) not-allowed, a form of another type
//     bad-request, more than Options.MaxPerAccount devices
//     resource-constraint. The session that enabled it is remembered, so
//     that its own detached session pushes to its own registration.
//   - <disable jid [node]/>: removes that registration, or every
//     registration of the service.
//   - Others' accounts are forbidden.
//
// When a notification is sent: a message for the account reaches
// router.EventMessageOffline (no session to take it), or
// router.EventMessageHeld (queued for a session detached by stream
// management and waiting to be resumed, which then pushes to the
// registration that session enabled, if any), or the router delivers it to
// other sessions of the account (router.OnMessageDelivered: then to the
// registrations no bound session enabled, the phone that is gone while
// the desktop is online, as Prosody does; not for groupchat, and a user
// found without registrations is not looked up again for up to a minute). A
// session "enabled" a registration when it sent the enable; a client that
// does not enable again at each login is seen as gone.
//
// Only messages worth waking a phone for: a body, an encrypted payload
// (OMEMO, OpenPGP), a call proposal (XEP-0353), a MUC invitation, or such
// a message received as a carbon; not errors, headlines, chat states, receipts, markers, sent
// carbons, archive results. The notification is a pubsub publish IQ from
// the user's bare JID to the service and node, with the stored
// publish-options, carrying a urn:xmpp:push:summary form: message-count
// (1: each notification is about one message), last-message-sender (the
// sender's bare JID, unless Options.IncludeSender is false) and
// last-message-body only with Options.IncludeBody (off by default: the app
// server is a third party) and never for an encrypted message.
//
// The service is reached through the router: a local component, or a
// remote domain once federation (or its allow-list) reaches it. An error
// answer disables the registration (§"Error handling") unless it is
// transient (type wait, remote-server-not-found, remote-server-timeout,
// internal-server-error, resource-constraint); an answer must come from
// the service the publish went to.
//
// The hooks only queue work (Options.QueueSize, then dropped and logged):
// storage is read and notifications are routed by one worker goroutine,
// so routing never waits for the database here.
//
// The package must not log message bodies or publish-options (they may
// hold the app server's secret).
package push
