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
-- is one statement. Text columns use the BINARY collation; times are Unix
-- microseconds, as in accounts.

-- config is the JSON form of storage.PubSubConfig; max_items repeats the
-- one field the store enforces. last_seq is the position of the newest
-- item ever published, so that the next one is newer than all kept.
--   unique (svc_host, svc_user, node): every lookup by name, Nodes in
--                                      order, AffiliationsOf and
--                                      SubscriptionsOf across a service;
--   pubsub_nodes_by_owner:             the cascade from accounts.
CREATE TABLE pubsub_nodes (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	svc_host   TEXT    NOT NULL,
	svc_user   TEXT    NOT NULL,
	node       TEXT    NOT NULL,
	owner_host TEXT,
	owner_user TEXT,
	creator    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	config     TEXT    NOT NULL,
	max_items  INTEGER NOT NULL CHECK (max_items >= 0),
	last_seq   INTEGER NOT NULL,
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
	node_id      INTEGER NOT NULL,
	item_id      TEXT    NOT NULL,
	seq          INTEGER NOT NULL,
	publisher    TEXT    NOT NULL,
	payload      BLOB    NOT NULL,
	published_at INTEGER NOT NULL,
	PRIMARY KEY (node_id, item_id),
	FOREIGN KEY (node_id) REFERENCES pubsub_nodes (id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE UNIQUE INDEX pubsub_items_by_seq ON pubsub_items (node_id, seq);

CREATE TABLE pubsub_affiliations (
	node_id     INTEGER NOT NULL,
	jid         TEXT    NOT NULL,
	affiliation TEXT    NOT NULL CHECK (affiliation IN ('owner', 'publisher', 'publish-only', 'member', 'outcast')),
	PRIMARY KEY (node_id, jid),
	FOREIGN KEY (node_id) REFERENCES pubsub_nodes (id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE pubsub_subscriptions (
	node_id INTEGER NOT NULL,
	jid     TEXT    NOT NULL,
	subid   TEXT    NOT NULL,
	state   TEXT    NOT NULL CHECK (state IN ('subscribed', 'pending', 'unconfigured')),
	PRIMARY KEY (node_id, jid),
	FOREIGN KEY (node_id) REFERENCES pubsub_nodes (id) ON DELETE CASCADE
) WITHOUT ROWID;
