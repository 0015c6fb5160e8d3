// Package adhoc is a small XEP-0050 (Ad-Hoc Commands) framework for the
// server's own commands: commands are added to a Service, which answers
// command discovery and execution on the server's hosts. A Service is not
// a module (it sits below them): the module that owns it registers its
// Execute as the {http://jabber.org/protocol/commands}command IQ handler
// on the server, turning an *Error into a module.AppError, advertises the
// feature, and installs Disco as a router.EventIQHost hook at
// DiscoPriority. Today that module is invites.
//
// It owns the protocol: disco#items of the node
// http://jabber.org/protocol/commands and disco#info of each command node
// (the hook runs ahead of the disco module, which knows no server nodes),
// the <command/> IQ with the actions execute,
// complete, next, prev and cancel, sessions for commands that take more
// than one stage (bound to the requester's full JID, expiring after
// SessionTTL, at most MaxSessions at once), the status and the XEP-0050
// errors (bad-action, malformed-action, bad-sessionid, session-expired,
// bad-payload, forbidden, item-not-found). Only the server's own users may
// list or execute commands; each command decides who among them may.
//
// It does not know what the commands do: their modules do. It also gives
// them a few XEP-0004 data form helpers. It must not import any module.
package adhoc
