// Package mamquery reads and answers the parts of a XEP-0313 (Message
// Archive Management) query that every archive shares: the query form
// (§4.1, with the #extended fields after-id, before-id and ids), XEP-0059
// paging (max, after, before, index), <flip-page/>, the form a client
// gets to discover the fields (§4.1.5), and the <fin/> of the answer.
// Parse returns a storage.ArchiveQuery, so that the user archive (mam)
// and the room archives (muc) run the same query code in storage.
//
// It must not decide who may read an archive, nor what 'with' means: a
// user's archive matches it against either party, a room's archive
// against the sender. Parse hands the JID over parsed and leaves the
// query's With fields to the caller. It holds no state and touches no
// storage.
package mamquery
