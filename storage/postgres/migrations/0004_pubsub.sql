-- Publish-subscribe services (XEP-0060), personal eventing (XEP-0163)
-- first: nodes with their configuration, items, affiliations and
-- subscriptions.
--
-- A service is (svc_host, svc_user): an account's PEP service, or with
-- svc_user = '' a service of its own at svc_host. For an account's service
-- owner_host and owner_user repeat the account, and the foreign key on them
-- deletes the nodes with the account; for the others they are NULL, which
-- a foreign key does not check. Items, affiliations and subscriptions hang
-- off their node with ON DELETE CASCADE, so deleting a node or an account
-- is one statement. Every text column uses the "C" collation: names, IDs
-- and JIDs match and sort by bytes.

-- config is the JSON form of storage.PubSubConfig, kept as text: the store
-- never looks inside; max_items repeats the one field it enforces.
-- last_seq is the position of the newest item ever published, so that the
-- next one is newer than all kept; the row is what a publish locks.
--   unique (svc_host, svc_user, node): every lookup by name, Nodes in
--                                      order, AffiliationsOf and
--                                      SubscriptionsOf across a service;
--   pubsub_nodes_by_owner:             the cascade from accounts.
CREATE TABLE pubsub_nodes (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	svc_host   text COLLATE "C" NOT NULL,
	svc_user   text COLLATE "C" NOT NULL,
	node       text COLLATE "C" NOT NULL,
	owner_host text COLLATE "C",
	owner_user text COLLATE "C",
	creator    text COLLATE "C" NOT NULL,
	created_at timestamptz      NOT NULL,
	config     text COLLATE "C" NOT NULL,
	max_items  integer          NOT NULL CHECK (max_items >= 0),
	last_seq   bigint           NOT NULL,
	UNIQUE (svc_host, svc_user, node),
	CHECK ((svc_user = '' AND owner_host IS NULL AND owner_user IS NULL) OR
	       (svc_user <> '' AND owner_host = svc_host AND owner_user = svc_user)),
	FOREIGN KEY (owner_host, owner_user) REFERENCES accounts (host, username) ON DELETE CASCADE
);
CREATE INDEX pubsub_nodes_by_owner ON pubsub_nodes (owner_host, owner_user);

-- seq orders a node's items: the greatest is the newest. Republishing an
-- item gives it a new seq.
--   primary key (node_id, item_id): ItemsByID, RetractItem, the upsert;
--   pubsub_items_by_seq:            newest first, trimming, LastItems.
CREATE TABLE pubsub_items (
	node_id      bigint           NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
	item_id      text COLLATE "C" NOT NULL,
	seq          bigint           NOT NULL,
	publisher    text COLLATE "C" NOT NULL,
	payload      bytea            NOT NULL,
	published_at timestamptz      NOT NULL,
	PRIMARY KEY (node_id, item_id)
);
CREATE UNIQUE INDEX pubsub_items_by_seq ON pubsub_items (node_id, seq);

CREATE TABLE pubsub_affiliations (
	node_id     bigint           NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
	jid         text COLLATE "C" NOT NULL,
	affiliation text COLLATE "C" NOT NULL CHECK (affiliation IN ('owner', 'publisher', 'publish-only', 'member', 'outcast')),
	PRIMARY KEY (node_id, jid)
);

CREATE TABLE pubsub_subscriptions (
	node_id bigint           NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
	jid     text COLLATE "C" NOT NULL,
	subid   text COLLATE "C" NOT NULL,
	state   text COLLATE "C" NOT NULL CHECK (state IN ('subscribed', 'pending', 'unconfigured')),
	PRIMARY KEY (node_id, jid)
);
