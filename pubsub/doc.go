// Package pubsub implements XEP-0060 publish-subscribe and, on it, the
// personal eventing service of every local account (XEP-0163, PEP), with
// the publish-options of XEP-0060 §7.1.5 that OMEMO (XEP-0384) and private
// PEP storage (XEP-0223, XEP-0402 bookmarks) depend on.
//
// The service of an account is its bare JID: IQs in the pubsub and
// pubsub#owner namespaces addressed to it (or sent without 'to' by the
// account itself) are answered here, through module.Account handlers.
// Nodes, items, affiliations and subscriptions live in storage.PubSub, the
// account's service being storage.PubSubService{Host, Username}.
//
// What it does:
//   - publish, with auto-create (default configuration: access model
//     presence, one item, send_last_published_item on_sub_and_presence)
//     and publish-options checked as preconditions: a field unknown or
//     not matching the node's configuration is conflict +
//     <precondition-not-met/>; on auto-create the options configure the
//     new node. Equal values spelled otherwise (1/true, max) match;
//   - item retrieval (all, max_items, by ID), retract (notified with
//     notify='true' or pubsub#notify_retract), purge (one <purge/>
//     event), node deletion (a <delete/> event to those who were entitled
//     before it went), create and create-and-configure, node configuration
//     get and set (pubsub#node_config; fields it does not know are
//     ignored, values a known field does not take are not-acceptable),
//     the default configuration, affiliations and subscriptions for the
//     owner, and explicit subscribe/unsubscribe for whoever the access
//     model lets in, with the requester's own subscriptions and
//     affiliations;
//   - the access models open, presence (a subscription from or both in
//     the owner's roster), roster (that, in one of
//     pubsub#roster_groups_allowed) and whitelist (the owner, and JIDs the
//     owner made member or publisher); an outcast is refused whatever the
//     model. authorize is not supported;
//   - notifications, <message type='headline'> from the owner's bare JID
//     (XEP-0163 §4.3.2) carrying the pubsub#event, routed on the owner's
//     behalf so that the owner's block list (XEP-0191) stops them: to the
//     owner's available resources, but those whose verified caps show no
//     NODE+notify; to the available resources of contacts the access model
//     lets in and whose verified XEP-0115 caps include NODE+notify
//     ("filtered notifications"), with a XEP-0033 replyto naming the
//     publishing resource; and to explicit subscribers still let in;
//   - the last item of each node with on_sub_and_presence, at a
//     resource's initial presence, for the nodes its caps ask for: its own
//     account's and those of local contacts sharing their presence with it
//     (with a XEP-0203 delay), and on explicit subscription;
//   - a caps cache: the first time a local resource (or, with Federation,
//     a remote contact's resource) shows a verification string, a
//     disco#info query goes to it from its account's bare JID (the
//     contact's local user's for remote ones); the answer is trusted only
//     if it hashes to the string by XEP-0115 §5 (sha-1, sha-256, sha-512;
//     ill-formed answers, error answers, silence and wrong hashes are not
//     trusted, and that resource is not asked for that string again). For
//     a hash function not supported, the answer is used for that JID
//     only. Legacy caps (no hash) are ignored. Initial presence waiting for
//     its caps gets its last items when they are verified;
//   - disco: the account's disco#info has the pubsub/pep identity and the
//     features implemented (on the server's too, XEP-0223 §6);
//     disco#items lists the nodes the requester may see, a node's
//     disco#items its item IDs, a node's disco#info pubsub/leaf with the
//     pubsub#meta-data form (module.AccountNodes).
//
// Errors follow XEP-0060, with the pubsub#errors conditions through
// module.AppError: item-not-found, forbidden, not-allowed + closed-node,
// not-authorized + presence-subscription-required or
// not-in-roster-group, bad-request + nodeid-required, invalid-jid,
// item-required, payload-required, invalid-payload or item-forbidden,
// not-acceptable + payload-too-big (with the limit in the text) or
// invalid-subid, unexpected-request + not-subscribed,
// feature-not-implemented + unsupported (subscription options),
// not-allowed + max-nodes-exceeded, policy-violation +
// too-many-subscriptions, conflict + precondition-not-met.
//
// Limits (Options): the size of an item's payload, the items a node may
// keep (the value of max_items "max"), the nodes of an account, the
// explicit subscriptions of a node, the verification strings cached. An
// items answer carries at most four largest items' worth of payload, the
// newest first (§6.5.4 lets a service return some); one request changes
// at most 100 items, affiliations or subscriptions.
//
// It must not import another feature package; it reads rosters from
// storage, and reaches blocking only through EventOnBehalf.
//
// Known limits: no generic pubsub component (the engine is written for it:
// services are storage.PubSubService), no subscription options, no
// collection nodes, no item expiry, no pending subscriptions (authorize),
// no RSM on items; persist_items=false keeps items as max_items says
// (a PEP node keeps its last item for on_sub_and_presence) unless the
// node is also deliver_payloads=false, a transient notification node that
// keeps none; explicit subscriptions of an account deleted elsewhere stay
// until the node goes; last items at login cost a few queries per local
// contact.
package pubsub
