package pubsub

import (
	"context"
	"errors"
	"slices"

	"mellium.im/xmpp/jid"

	"parley.im/parley/storage"
)

// sharesPresence reports whether a roster item lets its contact see the
// owner's presence: a subscription from or both (RFC 6121), the condition
// of the presence access model.
func sharesPresence(it *storage.RosterItem) bool {
	return it != nil && (it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth)
}

// allowed applies a node's access model (XEP-0060 §4.5) to a requester
// who is not the owner, given the owner's roster item for the requester's
// bare JID (nil for none) and the requester's affiliation. It returns the
// error the XEP gives for a refusal.
func allowed(cfg storage.PubSubConfig, item *storage.RosterItem, aff string) error {
	switch aff {
	case storage.PubSubOutcast, storage.PubSubPublishOnly:
		// XEP-0060 §4.1: publish-only may publish and nothing else.
		return errForbidden
	case storage.PubSubOwner, storage.PubSubPublisher, storage.PubSubMember:
		return nil
	}
	switch cfg.AccessModel {
	case AccessOpen:
		return nil
	case AccessPresence:
		if sharesPresence(item) {
			return nil
		}
		return errPresenceRequired
	case AccessRoster:
		if sharesPresence(item) && slices.ContainsFunc(item.Groups, func(g string) bool {
			return slices.Contains(cfg.RosterGroups, g)
		}) {
			return nil
		}
		return errNotInRosterGroup
	}
	// whitelist, and whatever an older or newer version stored.
	return errClosedNode
}

// access checks whether requester may see a node of owner's: subscribe,
// retrieve items, discover it. The owner always may.
func (p *PEP) access(ctx context.Context, owner jid.JID, node string, cfg storage.PubSubConfig, requester jid.JID) error {
	bare := requester.Bare()
	if bare.Equal(owner) {
		return nil
	}
	aff, err := p.store.GetPubSubAffiliation(ctx, service(owner), node, bare.String())
	if errors.Is(err, storage.ErrNotFound) {
		return errNodeNotFound
	}
	if err != nil {
		return err
	}
	item, err := p.rosterItem(ctx, owner, bare)
	if err != nil {
		return err
	}
	return allowed(cfg, item, aff)
}

// rosterItem returns owner's roster item for contact, nil when there is
// none.
func (p *PEP) rosterItem(ctx context.Context, owner, contact jid.JID) (*storage.RosterItem, error) {
	it, err := p.store.RosterItem(ctx, owner.Domainpart(), owner.Localpart(), contact.Bare().String())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &it, nil
}

// mayPublish checks the publish model for a requester who is not the
// owner.
func (p *PEP) mayPublish(ctx context.Context, owner jid.JID, node string, cfg storage.PubSubConfig, requester jid.JID) error {
	bare := requester.Bare()
	if bare.Equal(owner) {
		return nil
	}
	svc := service(owner)
	aff, err := p.store.GetPubSubAffiliation(ctx, svc, node, bare.String())
	if errors.Is(err, storage.ErrNotFound) {
		return errNodeNotFound
	}
	if err != nil {
		return err
	}
	switch aff {
	case storage.PubSubOutcast:
		return errForbidden
	case storage.PubSubOwner, storage.PubSubPublisher, storage.PubSubPublishOnly:
		return nil
	}
	switch cfg.PublishModel {
	case PublishOpen:
		return nil
	case PublishSubscribers:
		sub, err := p.store.GetPubSubSubscription(ctx, svc, node, bare.String())
		if err == nil && sub.State == storage.PubSubSubscribed {
			return nil
		}
		if err == nil || errors.Is(err, storage.ErrNotFound) {
			sub, err = p.store.GetPubSubSubscription(ctx, svc, node, requester.String())
			if err == nil && sub.State == storage.PubSubSubscribed {
				return nil
			}
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return errForbidden
}
