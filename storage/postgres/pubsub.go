package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// pubsubLockClass is the first key of the advisory lock CreatePubSubNode
// holds while it counts a service's nodes; the second is a hash of the
// service. The value spells "psub" in ASCII.
const pubsubLockClass int32 = 0x70737562

// pubsubOwner returns the owner columns of a service: its account, or NULLs.
func pubsubOwner(svc storage.PubSubService) (host, user *string) {
	if svc.Username == "" {
		return nil, nil
	}
	return &svc.Host, &svc.Username
}

func encodePubSubConfig(cfg storage.PubSubConfig) (string, error) {
	if cfg.MaxItems < 0 {
		return "", fmt.Errorf("negative max items %d", cfg.MaxItems)
	}
	b, err := json.Marshal(cfg)
	return string(b), err
}

func decodePubSubConfig(s string) (storage.PubSubConfig, error) {
	var cfg storage.PubSubConfig
	err := json.Unmarshal([]byte(s), &cfg)
	return cfg, err
}

// pubsubNodeID returns the row id of a node, or pgx.ErrNoRows.
func pubsubNodeID(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, svc storage.PubSubService, node string, lock bool) (int64, error) {
	query := `SELECT id FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 AND node = $3`
	if lock {
		query += ` FOR UPDATE`
	}
	var id int64
	err := q.QueryRow(ctx, query, svc.Host, svc.Username, node).Scan(&id)
	return id, err
}

// CreatePubSubNode implements storage.PubSub. The advisory lock makes the
// count and the insert one step against other creates in the service; the
// account row is share-locked against deletion meanwhile.
func (s *Store) CreatePubSubNode(ctx context.Context, svc storage.PubSubService, node, creator string, cfg storage.PubSubConfig, limit int) error {
	config, err := encodePubSubConfig(cfg)
	if err != nil {
		return fmt.Errorf("postgres: create node: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2::text || chr(1) || $3::text))`,
			pubsubLockClass, svc.Host, svc.Username); err != nil {
			return err
		}
		if svc.Username != "" {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE host = $1 AND username = $2 FOR KEY SHARE`,
				svc.Host, svc.Username).Scan(&one); err != nil {
				return err
			}
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM (
				SELECT 1 FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 LIMIT $3) AS n`,
				svc.Host, svc.Username, limit).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				if _, err := pubsubNodeID(ctx, tx, svc, node, false); err == nil {
					return storage.ErrConflict
				}
				return storage.ErrQuota
			}
		}
		oh, ou := pubsubOwner(svc)
		tag, err := tx.Exec(ctx, `
			INSERT INTO pubsub_nodes (svc_host, svc_user, node, owner_host, owner_user, creator,
				created_at, config, max_items, last_seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)
			ON CONFLICT (svc_host, svc_user, node) DO NOTHING`,
			svc.Host, svc.Username, node, oh, ou, creator, time.Now().UTC(), config, cfg.MaxItems)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrConflict
		}
		return nil
	})
	if isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return wrap("create node", err)
}

const pubsubNodeColumns = `node, creator, created_at, config`

func scanPubSubNode(row pgx.CollectableRow) (storage.PubSubNode, error) {
	var (
		n      storage.PubSubNode
		config string
	)
	if err := row.Scan(&n.Name, &n.Creator, &n.Created, &config); err != nil {
		return n, err
	}
	n.Created = n.Created.UTC()
	var err error
	if n.Config, err = decodePubSubConfig(config); err != nil {
		return n, fmt.Errorf("node %q: config: %w", n.Name, err)
	}
	return n, nil
}

// GetPubSubNode implements storage.PubSub.
func (s *Store) GetPubSubNode(ctx context.Context, svc storage.PubSubService, node string) (storage.PubSubNode, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pubsubNodeColumns+` FROM pubsub_nodes
		WHERE svc_host = $1 AND svc_user = $2 AND node = $3`, svc.Host, svc.Username, node)
	if err != nil {
		return storage.PubSubNode{}, wrap("node", err)
	}
	n, err := pgx.CollectExactlyOneRow(rows, scanPubSubNode)
	if err != nil {
		return storage.PubSubNode{}, wrap("node", err)
	}
	return n, nil
}

// PubSubNodes implements storage.PubSub.
func (s *Store) PubSubNodes(ctx context.Context, svc storage.PubSubService) ([]storage.PubSubNode, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pubsubNodeColumns+` FROM pubsub_nodes
		WHERE svc_host = $1 AND svc_user = $2 ORDER BY node`, svc.Host, svc.Username)
	if err != nil {
		return nil, wrap("nodes", err)
	}
	nodes, err := pgx.CollectRows(rows, scanPubSubNode)
	if err != nil || len(nodes) == 0 {
		return nil, wrap("nodes", err)
	}
	return nodes, nil
}

// ConfigurePubSubNode implements storage.PubSub. The update locks the
// node's row, which publishes wait for.
func (s *Store) ConfigurePubSubNode(ctx context.Context, svc storage.PubSubService, node string, cfg storage.PubSubConfig) error {
	config, err := encodePubSubConfig(cfg)
	if err != nil {
		return fmt.Errorf("postgres: configure node: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `UPDATE pubsub_nodes SET config = $4, max_items = $5
			WHERE svc_host = $1 AND svc_user = $2 AND node = $3 RETURNING id`,
			svc.Host, svc.Username, node, config, cfg.MaxItems).Scan(&id); err != nil {
			return err
		}
		_, err := trimPubSubItems(ctx, tx, id, cfg.MaxItems)
		return err
	})
	return wrap("configure node", err)
}

// trimPubSubItems drops the oldest items of a node beyond keep and returns
// their IDs, oldest first. The caller holds the node's row lock.
func trimPubSubItems(ctx context.Context, tx pgx.Tx, id int64, keep int) ([]string, error) {
	rows, err := tx.Query(ctx, `
		DELETE FROM pubsub_items WHERE node_id = $1 AND seq <= (
			SELECT seq FROM pubsub_items WHERE node_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)
		RETURNING item_id, seq`, id, keep)
	if err != nil {
		return nil, err
	}
	type dropped struct {
		id  string
		seq int64
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dropped, error) {
		var d dropped
		err := row.Scan(&d.id, &d.seq)
		return d, err
	})
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	slices.SortFunc(ds, func(a, b dropped) int { return int(a.seq - b.seq) })
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.id
	}
	return ids, nil
}

// DeletePubSubNode implements storage.PubSub.
func (s *Store) DeletePubSubNode(ctx context.Context, svc storage.PubSubService, node string) ([]storage.PubSubSubscription, error) {
	var subs []storage.PubSubSubscription
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node, true)
		if err != nil {
			return err
		}
		if subs, err = queryPubSubSubs(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM pubsub_nodes WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return nil, wrap("delete node", err)
	}
	return subs, nil
}

// PublishPubSubItem implements storage.PubSub. Taking the next position
// updates the node's row, which serializes publishes to the node until
// commit.
func (s *Store) PublishPubSubItem(ctx context.Context, svc storage.PubSubService, node string, item storage.PubSubItem) ([]string, error) {
	payload := item.Payload
	if payload == nil {
		payload = []byte{}
	}
	var dropped []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			id, seq int64
			keep    int
		)
		err := tx.QueryRow(ctx, `
			UPDATE pubsub_nodes SET last_seq = last_seq + 1
			WHERE svc_host = $1 AND svc_user = $2 AND node = $3
			RETURNING id, last_seq, max_items`,
			svc.Host, svc.Username, node).Scan(&id, &seq, &keep)
		if err != nil {
			return err
		}
		if keep == 0 {
			dropped, err = trimPubSubItems(ctx, tx, id, 0)
			dropped = slices.DeleteFunc(dropped, func(d string) bool { return d == item.ID })
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO pubsub_items (node_id, item_id, seq, publisher, payload, published_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (node_id, item_id) DO UPDATE SET seq = excluded.seq,
				publisher = excluded.publisher, payload = excluded.payload,
				published_at = excluded.published_at`,
			id, item.ID, seq, item.Publisher, payload, time.Now().UTC()); err != nil {
			return err
		}
		dropped, err = trimPubSubItems(ctx, tx, id, keep)
		return err
	})
	if err != nil {
		return nil, wrap("publish item", err)
	}
	return dropped, nil
}

// collectPubSubItems reads rows of (node id, item columns...) where the
// item columns are NULL for a node without items: no row at all means no
// node.
func collectPubSubItems(rows pgx.Rows) ([]storage.PubSubItem, error) {
	var (
		found bool
		items []storage.PubSubItem
	)
	_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var (
			nodeID    int64
			id, pub   *string
			payload   []byte
			published *time.Time
		)
		if err := row.Scan(&nodeID, &id, &pub, &payload, &published); err != nil {
			return struct{}{}, err
		}
		found = true
		if id != nil {
			items = append(items, storage.PubSubItem{ID: *id, Publisher: *pub, Payload: payload, Published: published.UTC()})
		}
		return struct{}{}, nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, storage.ErrNotFound
	}
	return items, nil
}

// PubSubItems implements storage.PubSub, in one statement: a missing node
// gives no row, a node without items one row of NULLs.
func (s *Store) PubSubItems(ctx context.Context, svc storage.PubSubService, node string, last int) ([]storage.PubSubItem, error) {
	var limit *int
	if last > 0 {
		limit = &last
	}
	rows, err := s.pool.Query(ctx, `
		SELECT n.id, i.item_id, i.publisher, i.payload, i.published_at
		FROM pubsub_nodes AS n
		LEFT JOIN LATERAL (
			SELECT * FROM pubsub_items WHERE node_id = n.id ORDER BY seq DESC LIMIT $4
		) AS i ON true
		WHERE n.svc_host = $1 AND n.svc_user = $2 AND n.node = $3
		ORDER BY i.seq DESC`,
		svc.Host, svc.Username, node, limit)
	if err != nil {
		return nil, wrap("items", err)
	}
	items, err := collectPubSubItems(rows)
	return items, wrap("items", err)
}

// PubSubItemsByID implements storage.PubSub.
func (s *Store) PubSubItemsByID(ctx context.Context, svc storage.PubSubService, node string, ids []string) ([]storage.PubSubItem, error) {
	if ids == nil {
		ids = []string{}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT n.id, i.item_id, i.publisher, i.payload, i.published_at
		FROM pubsub_nodes AS n
		LEFT JOIN pubsub_items AS i ON i.node_id = n.id AND i.item_id = ANY ($4::text[])
		WHERE n.svc_host = $1 AND n.svc_user = $2 AND n.node = $3
		ORDER BY i.seq DESC`,
		svc.Host, svc.Username, node, ids)
	if err != nil {
		return nil, wrap("items by id", err)
	}
	items, err := collectPubSubItems(rows)
	return items, wrap("items by id", err)
}

// LastPubSubItems implements storage.PubSub.
func (s *Store) LastPubSubItems(ctx context.Context, svc storage.PubSubService, nodes []string) (map[string]storage.PubSubItem, error) {
	out := map[string]storage.PubSubItem{}
	if len(nodes) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT n.node, i.item_id, i.publisher, i.payload, i.published_at
		FROM pubsub_nodes AS n
		JOIN LATERAL (
			SELECT * FROM pubsub_items WHERE node_id = n.id ORDER BY seq DESC LIMIT 1
		) AS i ON true
		WHERE n.svc_host = $1 AND n.svc_user = $2 AND n.node = ANY ($3::text[])`,
		svc.Host, svc.Username, nodes)
	if err != nil {
		return nil, wrap("last items", err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var (
			node string
			it   storage.PubSubItem
		)
		if err := row.Scan(&node, &it.ID, &it.Publisher, &it.Payload, &it.Published); err != nil {
			return struct{}{}, err
		}
		it.Published = it.Published.UTC()
		out[node] = it
		return struct{}{}, nil
	})
	if err != nil {
		return nil, wrap("last items", err)
	}
	return out, nil
}

// RetractPubSubItem implements storage.PubSub.
func (s *Store) RetractPubSubItem(ctx context.Context, svc storage.PubSubService, node, item string) error {
	var exists, deleted bool
	err := s.pool.QueryRow(ctx, `
		WITH n AS (
			SELECT id FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 AND node = $3
		), d AS (
			DELETE FROM pubsub_items WHERE node_id = (SELECT id FROM n) AND item_id = $4 RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM n), EXISTS (SELECT 1 FROM d)`,
		svc.Host, svc.Username, node, item).Scan(&exists, &deleted)
	if err != nil {
		return wrap("retract item", err)
	}
	if !exists || !deleted {
		return storage.ErrNotFound
	}
	return nil
}

// PurgePubSubNode implements storage.PubSub.
func (s *Store) PurgePubSubNode(ctx context.Context, svc storage.PubSubService, node string) error {
	var exists bool
	err := s.pool.QueryRow(ctx, `
		WITH n AS (
			SELECT id FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 AND node = $3
		), d AS (
			DELETE FROM pubsub_items WHERE node_id = (SELECT id FROM n) RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM n), (SELECT count(*) FROM d)`,
		svc.Host, svc.Username, node).Scan(&exists, new(int64))
	if err != nil {
		return wrap("purge node", err)
	}
	if !exists {
		return storage.ErrNotFound
	}
	return nil
}

// SetPubSubAffiliation implements storage.PubSub.
func (s *Store) SetPubSubAffiliation(ctx context.Context, svc storage.PubSubService, node, jid, affiliation string) error {
	if affiliation != storage.PubSubNone && !storage.ValidPubSubAffiliation(affiliation) {
		return fmt.Errorf("postgres: set affiliation: invalid affiliation %q", affiliation)
	}
	var (
		id  int64
		err error
	)
	if affiliation == storage.PubSubNone {
		err = s.pool.QueryRow(ctx, `
			WITH n AS (
				SELECT id FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 AND node = $3
			), d AS (
				DELETE FROM pubsub_affiliations WHERE node_id = (SELECT id FROM n) AND jid = $4
			)
			SELECT id FROM n`,
			svc.Host, svc.Username, node, jid).Scan(&id)
	} else {
		err = s.pool.QueryRow(ctx, `
			WITH n AS (
				SELECT id FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 AND node = $3 FOR KEY SHARE
			), i AS (
				INSERT INTO pubsub_affiliations (node_id, jid, affiliation) SELECT id, $4::text, $5::text FROM n
				ON CONFLICT (node_id, jid) DO UPDATE SET affiliation = excluded.affiliation
			)
			SELECT id FROM n`,
			svc.Host, svc.Username, node, jid, affiliation).Scan(&id)
	}
	if isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return wrap("set affiliation", err)
}

// GetPubSubAffiliation implements storage.PubSub.
func (s *Store) GetPubSubAffiliation(ctx context.Context, svc storage.PubSubService, node, jid string) (string, error) {
	var aff *string
	err := s.pool.QueryRow(ctx, `
		SELECT a.affiliation FROM pubsub_nodes AS n
		LEFT JOIN pubsub_affiliations AS a ON a.node_id = n.id AND a.jid = $4
		WHERE n.svc_host = $1 AND n.svc_user = $2 AND n.node = $3`,
		svc.Host, svc.Username, node, jid).Scan(&aff)
	if err != nil {
		return "", wrap("affiliation", err)
	}
	if aff == nil {
		return storage.PubSubNone, nil
	}
	return *aff, nil
}

// PubSubAffiliations implements storage.PubSub.
func (s *Store) PubSubAffiliations(ctx context.Context, svc storage.PubSubService, node string) ([]storage.PubSubAffiliation, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.jid, a.affiliation FROM pubsub_nodes AS n
		LEFT JOIN pubsub_affiliations AS a ON a.node_id = n.id
		WHERE n.svc_host = $1 AND n.svc_user = $2 AND n.node = $3
		ORDER BY a.jid`,
		svc.Host, svc.Username, node)
	if err != nil {
		return nil, wrap("affiliations", err)
	}
	found := false
	var affs []storage.PubSubAffiliation
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var j, a *string
		if err := row.Scan(&j, &a); err != nil {
			return struct{}{}, err
		}
		found = true
		if j != nil {
			affs = append(affs, storage.PubSubAffiliation{JID: *j, Affiliation: *a})
		}
		return struct{}{}, nil
	})
	switch {
	case err != nil:
		return nil, wrap("affiliations", err)
	case !found:
		return nil, storage.ErrNotFound
	}
	return affs, nil
}

// PubSubAffiliationsOf implements storage.PubSub.
func (s *Store) PubSubAffiliationsOf(ctx context.Context, svc storage.PubSubService, jid string) ([]storage.PubSubAffiliation, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT n.node, a.affiliation FROM pubsub_nodes AS n
		JOIN pubsub_affiliations AS a ON a.node_id = n.id AND a.jid = $3
		WHERE n.svc_host = $1 AND n.svc_user = $2 ORDER BY n.node`,
		svc.Host, svc.Username, jid)
	if err != nil {
		return nil, wrap("affiliations of", err)
	}
	affs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.PubSubAffiliation, error) {
		a := storage.PubSubAffiliation{JID: jid}
		err := row.Scan(&a.Node, &a.Affiliation)
		return a, err
	})
	if err != nil || len(affs) == 0 {
		return nil, wrap("affiliations of", err)
	}
	return affs, nil
}

// SetPubSubSubscription implements storage.PubSub.
func (s *Store) SetPubSubSubscription(ctx context.Context, svc storage.PubSubService, node string, sub storage.PubSubSubscription) error {
	if !storage.ValidPubSubState(sub.State) {
		return fmt.Errorf("postgres: set subscription: invalid state %q", sub.State)
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
		WITH n AS (
			SELECT id FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 AND node = $3 FOR KEY SHARE
		), i AS (
			INSERT INTO pubsub_subscriptions (node_id, jid, subid, state) SELECT id, $4::text, $5::text, $6::text FROM n
			ON CONFLICT (node_id, jid) DO UPDATE SET subid = excluded.subid, state = excluded.state
		)
		SELECT id FROM n`,
		svc.Host, svc.Username, node, sub.JID, sub.SubID, sub.State).Scan(&id)
	if isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return wrap("set subscription", err)
}

// GetPubSubSubscription implements storage.PubSub.
func (s *Store) GetPubSubSubscription(ctx context.Context, svc storage.PubSubService, node, jid string) (storage.PubSubSubscription, error) {
	sub := storage.PubSubSubscription{JID: jid}
	err := s.pool.QueryRow(ctx, `
		SELECT s.subid, s.state FROM pubsub_nodes AS n
		JOIN pubsub_subscriptions AS s ON s.node_id = n.id AND s.jid = $4
		WHERE n.svc_host = $1 AND n.svc_user = $2 AND n.node = $3`,
		svc.Host, svc.Username, node, jid).Scan(&sub.SubID, &sub.State)
	if err != nil {
		return storage.PubSubSubscription{}, wrap("subscription", err)
	}
	return sub, nil
}

// DeletePubSubSubscription implements storage.PubSub.
func (s *Store) DeletePubSubSubscription(ctx context.Context, svc storage.PubSubService, node, jid string) error {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM pubsub_subscriptions WHERE jid = $4 AND node_id = (
			SELECT id FROM pubsub_nodes WHERE svc_host = $1 AND svc_user = $2 AND node = $3)`,
		svc.Host, svc.Username, node, jid)
	if err != nil {
		return wrap("delete subscription", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}

func queryPubSubSubs(ctx context.Context, tx pgx.Tx, id int64) ([]storage.PubSubSubscription, error) {
	rows, err := tx.Query(ctx,
		`SELECT jid, subid, state FROM pubsub_subscriptions WHERE node_id = $1 ORDER BY jid`, id)
	if err != nil {
		return nil, err
	}
	subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.PubSubSubscription, error) {
		var sub storage.PubSubSubscription
		err := row.Scan(&sub.JID, &sub.SubID, &sub.State)
		return sub, err
	})
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	return subs, nil
}

// PubSubSubscriptions implements storage.PubSub.
func (s *Store) PubSubSubscriptions(ctx context.Context, svc storage.PubSubService, node string) ([]storage.PubSubSubscription, error) {
	var subs []storage.PubSubSubscription
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			id, err := pubsubNodeID(ctx, tx, svc, node, false)
			if err != nil {
				return err
			}
			subs, err = queryPubSubSubs(ctx, tx, id)
			return err
		})
	if err != nil {
		return nil, wrap("subscriptions", err)
	}
	return subs, nil
}

// PubSubSubscriptionsOf implements storage.PubSub.
func (s *Store) PubSubSubscriptionsOf(ctx context.Context, svc storage.PubSubService, jid string) ([]storage.PubSubSubscription, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT n.node, s.subid, s.state FROM pubsub_nodes AS n
		JOIN pubsub_subscriptions AS s ON s.node_id = n.id AND s.jid = $3
		WHERE n.svc_host = $1 AND n.svc_user = $2 ORDER BY n.node`,
		svc.Host, svc.Username, jid)
	if err != nil {
		return nil, wrap("subscriptions of", err)
	}
	subs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.PubSubSubscription, error) {
		sub := storage.PubSubSubscription{JID: jid}
		err := row.Scan(&sub.Node, &sub.SubID, &sub.State)
		return sub, err
	})
	if err != nil || len(subs) == 0 {
		return nil, wrap("subscriptions of", err)
	}
	return subs, nil
}

var _ storage.PubSub = (*Store)(nil)
