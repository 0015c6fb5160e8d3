package storage

import (
	"context"
	"time"
)

// PubSubService names a publish-subscribe service (XEP-0060): the personal
// eventing service (XEP-0163) of a local account when Username is set, or
// a service of its own at Host (a pubsub component) when it is empty. The
// nodes of an account's service are deleted with the account.
type PubSubService struct {
	Host     string
	Username string
}

// String returns the service's address: "username@host", or "host".
func (s PubSubService) String() string {
	if s.Username == "" {
		return s.Host
	}
	return s.Username + "@" + s.Host
}

// PubSubAffiliations of XEP-0060 §4.1, as stored. "none" is no row.
const (
	PubSubOwner       = "owner"
	PubSubPublisher   = "publisher"
	PubSubPublishOnly = "publish-only"
	PubSubMember      = "member"
	PubSubOutcast     = "outcast"
	PubSubNone        = "none"
)

// GetPubSubSubscription states of XEP-0060 §4.2, as stored. "none" is no row.
const (
	PubSubSubscribed   = "subscribed"
	PubSubPending      = "pending"
	PubSubUnconfigured = "unconfigured"
)

// PubSubConfig is a node's configuration (the pubsub#node_config fields of
// XEP-0060). The store keeps it as given, and interprets only MaxItems.
// Its JSON form, with these tags, is what backends store: a field added
// later reads as its zero value from nodes written before.
type PubSubConfig struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Type is pubsub#type, usually the payload's namespace.
	Type string `json:"type,omitempty"`
	// AccessModel is open, presence, roster, whitelist or authorize.
	AccessModel string `json:"access_model"`
	// RosterGroups are the groups the roster access model lets in.
	RosterGroups []string `json:"roster_groups,omitempty"`
	// PublishModel is publishers, subscribers or open.
	PublishModel string `json:"publish_model"`
	// MaxItems is how many items the node keeps, at most: publishing
	// beyond it drops the oldest. 0 keeps none.
	MaxItems     int  `json:"max_items"`
	PersistItems bool `json:"persist_items"`
	// SendLastPublishedItem is never, on_sub or on_sub_and_presence.
	SendLastPublishedItem string `json:"send_last_published_item"`
	DeliverNotifications  bool   `json:"deliver_notifications"`
	DeliverPayloads       bool   `json:"deliver_payloads"`
	NotifyConfig          bool   `json:"notify_config"`
	NotifyDelete          bool   `json:"notify_delete"`
	NotifyRetract         bool   `json:"notify_retract"`
	NotifySub             bool   `json:"notify_sub"`
	// NotificationType is the type of notification messages: headline or
	// normal.
	NotificationType string `json:"notification_type"`
}

// PubSubNode is a node of a service.
type PubSubNode struct {
	Name    string // the NodeID
	Creator string // the JID that created it
	Created time.Time
	Config  PubSubConfig
}

// PubSubItem is a published item.
type PubSubItem struct {
	ID        string
	Publisher string // the JID that published it
	// Payload is the serialized payload element in the client namespace,
	// empty for a notification without payload.
	Payload []byte
	// Published is when this version of the item was stored, set by the
	// store to the microsecond, in UTC.
	Published time.Time
}

// PubSubAffiliation is a JID's affiliation with a node.
type PubSubAffiliation struct {
	Node        string // set by the lookups across a service's nodes
	JID         string
	Affiliation string // one of the PubSub affiliation constants but none
}

// PubSubSubscription is a subscription to a node.
type PubSubSubscription struct {
	Node  string // set by the lookups across a service's nodes
	JID   string
	SubID string
	State string // PubSubSubscribed, PubSubPending or PubSubUnconfigured
}

// PubSub stores publish-subscribe services: nodes with their
// configuration, items, affiliations and subscriptions. One JID has at most
// one affiliation and one subscription per node. Node names, item IDs and
// JIDs are compared byte for byte; JIDs are normalized by the caller.
//
// Every method that names a node returns ErrNotFound when the service has
// no such node. Reads of a service that has no nodes, or of an account that
// does not exist, find nothing.
type PubSub interface {
	// CreatePubSubNode creates a node. It returns ErrConflict if the node
	// exists, ErrNotFound if the service is an account's and the account
	// does not exist, and, with limit > 0, ErrQuota if the service already
	// has limit nodes. A negative MaxItems is an error.
	CreatePubSubNode(ctx context.Context, svc PubSubService, node, creator string, cfg PubSubConfig, limit int) error
	// GetPubSubNode returns a node.
	GetPubSubNode(ctx context.Context, svc PubSubService, node string) (PubSubNode, error)
	// PubSubNodes returns a service's nodes in ascending byte order of name.
	PubSubNodes(ctx context.Context, svc PubSubService) ([]PubSubNode, error)
	// ConfigurePubSubNode replaces a node's configuration and, in the same
	// transaction, drops the oldest items beyond the new MaxItems.
	ConfigurePubSubNode(ctx context.Context, svc PubSubService, node string, cfg PubSubConfig) error
	// DeletePubSubNode removes a node with its items, affiliations and
	// subscriptions, and returns the subscriptions it had, by JID.
	DeletePubSubNode(ctx context.Context, svc PubSubService, node string) ([]PubSubSubscription, error)

	// PublishPubSubItem stores an item, replacing the one with the same
	// ID, and makes it the newest; then it drops the oldest items beyond
	// the node's MaxItems, all in one transaction. It returns the IDs of the
	// items dropped, oldest first; the published one is never listed (with
	// MaxItems 0 it is not kept either). Publishes to one node are
	// serialized.
	PublishPubSubItem(ctx context.Context, svc PubSubService, node string, item PubSubItem) (dropped []string, err error)
	// PubSubItems returns a node's newest items, newest first: at most
	// last of them, or all when last <= 0.
	PubSubItems(ctx context.Context, svc PubSubService, node string, last int) ([]PubSubItem, error)
	// PubSubItemsByID returns those of the items named that exist, newest
	// first.
	PubSubItemsByID(ctx context.Context, svc PubSubService, node string, ids []string) ([]PubSubItem, error)
	// LastPubSubItems returns the newest item of each of the named nodes
	// that exists and has one, by node name.
	LastPubSubItems(ctx context.Context, svc PubSubService, nodes []string) (map[string]PubSubItem, error)
	// RetractPubSubItem removes an item; ErrNotFound also if there is no
	// such item.
	RetractPubSubItem(ctx context.Context, svc PubSubService, node, id string) error
	// PurgePubSubNode removes all of a node's items.
	PurgePubSubNode(ctx context.Context, svc PubSubService, node string) error

	// SetPubSubAffiliation sets a JID's affiliation with a node; PubSubNone
	// removes it. Any other value not among the constants is an error.
	SetPubSubAffiliation(ctx context.Context, svc PubSubService, node, jid, affiliation string) error
	// GetPubSubAffiliation returns a JID's affiliation with a node,
	// PubSubNone when it has none.
	GetPubSubAffiliation(ctx context.Context, svc PubSubService, node, jid string) (string, error)
	// PubSubAffiliations returns a node's affiliations by ascending JID.
	PubSubAffiliations(ctx context.Context, svc PubSubService, node string) ([]PubSubAffiliation, error)
	// PubSubAffiliationsOf returns a JID's affiliations with the nodes of a
	// service, by ascending node name, with Node set.
	PubSubAffiliationsOf(ctx context.Context, svc PubSubService, jid string) ([]PubSubAffiliation, error)

	// SetPubSubSubscription creates or replaces the subscription of
	// sub.JID. A State not among the constants is an error.
	SetPubSubSubscription(ctx context.Context, svc PubSubService, node string, sub PubSubSubscription) error
	// GetPubSubSubscription returns a JID's subscription to a node;
	// ErrNotFound also if it has none.
	GetPubSubSubscription(ctx context.Context, svc PubSubService, node, jid string) (PubSubSubscription, error)
	// DeletePubSubSubscription removes a JID's subscription; ErrNotFound
	// also if it has none.
	DeletePubSubSubscription(ctx context.Context, svc PubSubService, node, jid string) error
	// PubSubSubscriptions returns a node's subscriptions by ascending JID.
	PubSubSubscriptions(ctx context.Context, svc PubSubService, node string) ([]PubSubSubscription, error)
	// PubSubSubscriptionsOf returns a JID's subscriptions to the nodes of a
	// service, by ascending node name, with Node set.
	PubSubSubscriptionsOf(ctx context.Context, svc PubSubService, jid string) ([]PubSubSubscription, error)
}

// ValidPubSubAffiliation reports whether a is an affiliation a store keeps
// (PubSubNone is not).
func ValidPubSubAffiliation(a string) bool {
	switch a {
	case PubSubOwner, PubSubPublisher, PubSubPublishOnly, PubSubMember, PubSubOutcast:
		return true
	}
	return false
}

// ValidPubSubState reports whether s is a subscription state a store keeps.
func ValidPubSubState(s string) bool {
	return s == PubSubSubscribed || s == PubSubPending || s == PubSubUnconfigured
}
