// Package vcard implements XEP-0054 (vcard-temp): a user stores their
// vCard with an IQ set to their own account and anyone reads it with an
// IQ get to the user's bare JID, which the server answers on the user's
// behalf (XEP-0054 §3.3: vCards are public). A user without a vCard gets
// an empty <vCard xmlns='vcard-temp'/> (§3.1 allows that or
// item-not-found; the empty result is what clients handle best). Unknown
// users never reach the module: the router answers service-unavailable.
//
// A set for another user's account is forbidden (§3.2). A vCard whose
// serialization exceeds Options.MaxSize is refused with not-acceptable
// (XEP-0054 sets no limit; avatars belong in XEP-0084 or XEP-0153's
// hash, but some clients still embed a PHOTO, hence a generous default).
// An empty vCard deletes the stored one.
//
// The vCard is stored as the serialized <vCard/> element, as received, in
// AccountData (kind storage.DataVCard, key ""), so it is deleted with the
// account.
package vcard
