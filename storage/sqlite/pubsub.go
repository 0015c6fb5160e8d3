package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"parley.im/parley/storage"
)

// pubsubOwner returns the owner columns of a service: its account, or NULLs.
func pubsubOwner(svc storage.PubSubService) (host, user any) {
	if svc.Username == "" {
		return nil, nil
	}
	return svc.Host, svc.Username
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

// pubsubQueryer is what both a cachedTx and the pools offer.
type pubsubQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// pubsubNodeID returns the row id of a node, or sql.ErrNoRows.
func pubsubNodeID(ctx context.Context, q pubsubQueryer, svc storage.PubSubService, node string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx,
		`SELECT id FROM pubsub_nodes WHERE svc_host = ? AND svc_user = ? AND node = ?`,
		svc.Host, svc.Username, node).Scan(&id)
	return id, err
}

// CreatePubSubNode implements storage.PubSub. The write lock taken at BEGIN
// makes the count and the insert one step.
func (s *Store) CreatePubSubNode(ctx context.Context, svc storage.PubSubService, node, creator string, cfg storage.PubSubConfig, limit int) error {
	config, err := encodePubSubConfig(cfg)
	if err != nil {
		return fmt.Errorf("sqlite: create node: %w", err)
	}
	err = s.inWriteTx(ctx, func(tx cachedTx) error {
		if svc.Username != "" {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE host = ? AND username = ?`,
				svc.Host, svc.Username).Scan(&one); err != nil {
				return err
			}
		}
		if _, err := pubsubNodeID(ctx, tx, svc, node); err == nil {
			return storage.ErrConflict
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (
				SELECT 1 FROM pubsub_nodes WHERE svc_host = ? AND svc_user = ? LIMIT ?)`,
				svc.Host, svc.Username, limit).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return storage.ErrQuota
			}
		}
		oh, ou := pubsubOwner(svc)
		_, err := tx.ExecContext(ctx, `
			INSERT INTO pubsub_nodes (svc_host, svc_user, node, owner_host, owner_user, creator,
				created_at, config, max_items, last_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
			svc.Host, svc.Username, node, oh, ou, creator, time.Now().UnixMicro(), config, cfg.MaxItems)
		return err
	})
	return wrap("create node", err)
}

// GetPubSubNode implements storage.PubSub.
func (s *Store) GetPubSubNode(ctx context.Context, svc storage.PubSubService, node string) (storage.PubSubNode, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT node, creator, created_at, config FROM pubsub_nodes
		WHERE svc_host = ? AND svc_user = ? AND node = ?`,
		svc.Host, svc.Username, node)
	if err != nil {
		return storage.PubSubNode{}, wrap("node", err)
	}
	nodes, err := scanPubSubNodes(rows)
	if err != nil {
		return storage.PubSubNode{}, wrap("node", err)
	}
	if len(nodes) == 0 {
		return storage.PubSubNode{}, storage.ErrNotFound
	}
	return nodes[0], nil
}

// PubSubNodes implements storage.PubSub.
func (s *Store) PubSubNodes(ctx context.Context, svc storage.PubSubService) ([]storage.PubSubNode, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT node, creator, created_at, config FROM pubsub_nodes
		WHERE svc_host = ? AND svc_user = ? ORDER BY node`,
		svc.Host, svc.Username)
	if err != nil {
		return nil, wrap("nodes", err)
	}
	nodes, err := scanPubSubNodes(rows)
	return nodes, wrap("nodes", err)
}

func scanPubSubNodes(rows *sql.Rows) ([]storage.PubSubNode, error) {
	defer rows.Close()
	var nodes []storage.PubSubNode
	for rows.Next() {
		var (
			n       storage.PubSubNode
			created int64
			config  string
		)
		if err := rows.Scan(&n.Name, &n.Creator, &created, &config); err != nil {
			return nil, err
		}
		n.Created = time.UnixMicro(created).UTC()
		var err error
		if n.Config, err = decodePubSubConfig(config); err != nil {
			return nil, fmt.Errorf("node %q: config: %w", n.Name, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, rows.Err()
}

// ConfigurePubSubNode implements storage.PubSub.
func (s *Store) ConfigurePubSubNode(ctx context.Context, svc storage.PubSubService, node string, cfg storage.PubSubConfig) error {
	config, err := encodePubSubConfig(cfg)
	if err != nil {
		return fmt.Errorf("sqlite: configure node: %w", err)
	}
	err = s.inWriteTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pubsub_nodes SET config = ?, max_items = ? WHERE id = ?`,
			config, cfg.MaxItems, id); err != nil {
			return err
		}
		_, err = trimPubSubItems(ctx, tx, id, cfg.MaxItems)
		return err
	})
	return wrap("configure node", err)
}

// trimPubSubItems drops the oldest items of a node beyond keep and returns
// their IDs, oldest first.
func trimPubSubItems(ctx context.Context, tx cachedTx, id int64, keep int) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT item_id, seq FROM pubsub_items WHERE node_id = ?
		ORDER BY seq DESC LIMIT -1 OFFSET ?`, id, keep)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		dropped []string
		newest  int64
	)
	for rows.Next() {
		var (
			item string
			seq  int64
		)
		if err := rows.Scan(&item, &seq); err != nil {
			return nil, err
		}
		if dropped == nil {
			newest = seq
		}
		dropped = append(dropped, item)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(dropped) == 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE node_id = ? AND seq <= ?`, id, newest); err != nil {
		return nil, err
	}
	slices.Reverse(dropped)
	return dropped, nil
}

// DeletePubSubNode implements storage.PubSub.
func (s *Store) DeletePubSubNode(ctx context.Context, svc storage.PubSubService, node string) ([]storage.PubSubSubscription, error) {
	var subs []storage.PubSubSubscription
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		if subs, err = queryPubSubSubs(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM pubsub_nodes WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return nil, wrap("delete node", err)
	}
	return subs, nil
}

// PublishPubSubItem implements storage.PubSub. The write lock taken at BEGIN
// serializes publishes.
func (s *Store) PublishPubSubItem(ctx context.Context, svc storage.PubSubService, node string, item storage.PubSubItem) ([]string, error) {
	payload := item.Payload
	if payload == nil {
		payload = []byte{}
	}
	var dropped []string
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		var id, seq int64
		var keep int
		err := tx.QueryRowContext(ctx, `
			UPDATE pubsub_nodes SET last_seq = last_seq + 1
			WHERE svc_host = ? AND svc_user = ? AND node = ?
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
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO pubsub_items (node_id, item_id, seq, publisher, payload, published_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (node_id, item_id) DO UPDATE SET seq = excluded.seq,
				publisher = excluded.publisher, payload = excluded.payload,
				published_at = excluded.published_at`,
			id, item.ID, seq, item.Publisher, payload, time.Now().UnixMicro()); err != nil {
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

const pubsubItemColumns = `item_id, publisher, payload, published_at`

func scanPubSubItems(rows *sql.Rows) ([]storage.PubSubItem, error) {
	defer rows.Close()
	var items []storage.PubSubItem
	for rows.Next() {
		var (
			it        storage.PubSubItem
			published int64
		)
		if err := rows.Scan(&it.ID, &it.Publisher, &it.Payload, &published); err != nil {
			return nil, err
		}
		it.Published = time.UnixMicro(published).UTC()
		items = append(items, it)
	}
	return items, rows.Err()
}

// PubSubItems implements storage.PubSub.
func (s *Store) PubSubItems(ctx context.Context, svc storage.PubSubService, node string, last int) ([]storage.PubSubItem, error) {
	var items []storage.PubSubItem
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		if last <= 0 {
			last = -1
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+pubsubItemColumns+` FROM pubsub_items
			WHERE node_id = ? ORDER BY seq DESC LIMIT ?`, id, last)
		if err != nil {
			return err
		}
		items, err = scanPubSubItems(rows)
		return err
	})
	return items, wrap("items", err)
}

// PubSubItemsByID implements storage.PubSub.
func (s *Store) PubSubItemsByID(ctx context.Context, svc storage.PubSubService, node string, ids []string) ([]storage.PubSubItem, error) {
	var items []storage.PubSubItem
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil || len(ids) == 0 {
			return err
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+pubsubItemColumns+` FROM pubsub_items
			WHERE node_id = ? AND item_id IN (SELECT value FROM json_each(?))
			ORDER BY seq DESC`, id, string(list))
		if err != nil {
			return err
		}
		items, err = scanPubSubItems(rows)
		return err
	})
	return items, wrap("items by id", err)
}

// LastPubSubItems implements storage.PubSub.
func (s *Store) LastPubSubItems(ctx context.Context, svc storage.PubSubService, nodes []string) (map[string]storage.PubSubItem, error) {
	out := map[string]storage.PubSubItem{}
	if len(nodes) == 0 {
		return out, nil
	}
	list, err := json.Marshal(nodes)
	if err != nil {
		return nil, fmt.Errorf("sqlite: last items: %w", err)
	}
	rows, err := s.read.QueryContext(ctx, `
		SELECT n.node, i.item_id, i.publisher, i.payload, i.published_at
		FROM pubsub_nodes AS n
		JOIN pubsub_items AS i ON i.node_id = n.id
			AND i.seq = (SELECT max(seq) FROM pubsub_items WHERE node_id = n.id)
		WHERE n.svc_host = ? AND n.svc_user = ? AND n.node IN (SELECT value FROM json_each(?))`,
		svc.Host, svc.Username, string(list))
	if err != nil {
		return nil, wrap("last items", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			node      string
			it        storage.PubSubItem
			published int64
		)
		if err := rows.Scan(&node, &it.ID, &it.Publisher, &it.Payload, &published); err != nil {
			return nil, wrap("last items", err)
		}
		it.Published = time.UnixMicro(published).UTC()
		out[node] = it
	}
	return out, wrap("last items", rows.Err())
}

// RetractPubSubItem implements storage.PubSub.
func (s *Store) RetractPubSubItem(ctx context.Context, svc storage.PubSubService, node, item string) error {
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		return pubsubAffected(tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE node_id = ? AND item_id = ?`, id, item))
	})
	return wrap("retract item", err)
}

// pubsubAffected turns an Exec that changed no row into ErrNotFound.
func pubsubAffected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// PurgePubSubNode implements storage.PubSub.
func (s *Store) PurgePubSubNode(ctx context.Context, svc storage.PubSubService, node string) error {
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE node_id = ?`, id)
		return err
	})
	return wrap("purge node", err)
}

// SetPubSubAffiliation implements storage.PubSub.
func (s *Store) SetPubSubAffiliation(ctx context.Context, svc storage.PubSubService, node, jid, affiliation string) error {
	if affiliation != storage.PubSubNone && !storage.ValidPubSubAffiliation(affiliation) {
		return fmt.Errorf("sqlite: set affiliation: invalid affiliation %q", affiliation)
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		if affiliation == storage.PubSubNone {
			_, err = tx.ExecContext(ctx, `DELETE FROM pubsub_affiliations WHERE node_id = ? AND jid = ?`, id, jid)
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO pubsub_affiliations (node_id, jid, affiliation) VALUES (?, ?, ?)
			ON CONFLICT (node_id, jid) DO UPDATE SET affiliation = excluded.affiliation`,
			id, jid, affiliation)
		return err
	})
	return wrap("set affiliation", err)
}

// GetPubSubAffiliation implements storage.PubSub.
func (s *Store) GetPubSubAffiliation(ctx context.Context, svc storage.PubSubService, node, jid string) (string, error) {
	var (
		exists bool
		aff    sql.NullString
	)
	err := s.read.QueryRowContext(ctx, `
		SELECT 1, a.affiliation FROM pubsub_nodes AS n
		LEFT JOIN pubsub_affiliations AS a ON a.node_id = n.id AND a.jid = ?
		WHERE n.svc_host = ? AND n.svc_user = ? AND n.node = ?`,
		jid, svc.Host, svc.Username, node).Scan(&exists, &aff)
	if err != nil {
		return "", wrap("affiliation", err)
	}
	if !aff.Valid {
		return storage.PubSubNone, nil
	}
	return aff.String, nil
}

// PubSubAffiliations implements storage.PubSub.
func (s *Store) PubSubAffiliations(ctx context.Context, svc storage.PubSubService, node string) ([]storage.PubSubAffiliation, error) {
	var affs []storage.PubSubAffiliation
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT jid, affiliation FROM pubsub_affiliations WHERE node_id = ? ORDER BY jid`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a storage.PubSubAffiliation
			if err := rows.Scan(&a.JID, &a.Affiliation); err != nil {
				return err
			}
			affs = append(affs, a)
		}
		return rows.Err()
	})
	return affs, wrap("affiliations", err)
}

// PubSubAffiliationsOf implements storage.PubSub.
func (s *Store) PubSubAffiliationsOf(ctx context.Context, svc storage.PubSubService, jid string) ([]storage.PubSubAffiliation, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT n.node, a.affiliation FROM pubsub_nodes AS n
		JOIN pubsub_affiliations AS a ON a.node_id = n.id AND a.jid = ?
		WHERE n.svc_host = ? AND n.svc_user = ? ORDER BY n.node`,
		jid, svc.Host, svc.Username)
	if err != nil {
		return nil, wrap("affiliations of", err)
	}
	defer rows.Close()
	var affs []storage.PubSubAffiliation
	for rows.Next() {
		a := storage.PubSubAffiliation{JID: jid}
		if err := rows.Scan(&a.Node, &a.Affiliation); err != nil {
			return nil, wrap("affiliations of", err)
		}
		affs = append(affs, a)
	}
	return affs, wrap("affiliations of", rows.Err())
}

// SetPubSubSubscription implements storage.PubSub.
func (s *Store) SetPubSubSubscription(ctx context.Context, svc storage.PubSubService, node string, sub storage.PubSubSubscription) error {
	if !storage.ValidPubSubState(sub.State) {
		return fmt.Errorf("sqlite: set subscription: invalid state %q", sub.State)
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO pubsub_subscriptions (node_id, jid, subid, state) VALUES (?, ?, ?, ?)
			ON CONFLICT (node_id, jid) DO UPDATE SET subid = excluded.subid, state = excluded.state`,
			id, sub.JID, sub.SubID, sub.State)
		return err
	})
	return wrap("set subscription", err)
}

// GetPubSubSubscription implements storage.PubSub.
func (s *Store) GetPubSubSubscription(ctx context.Context, svc storage.PubSubService, node, jid string) (storage.PubSubSubscription, error) {
	sub := storage.PubSubSubscription{JID: jid}
	err := s.read.QueryRowContext(ctx, `
		SELECT s.subid, s.state FROM pubsub_nodes AS n
		JOIN pubsub_subscriptions AS s ON s.node_id = n.id AND s.jid = ?
		WHERE n.svc_host = ? AND n.svc_user = ? AND n.node = ?`,
		jid, svc.Host, svc.Username, node).Scan(&sub.SubID, &sub.State)
	if err != nil {
		return storage.PubSubSubscription{}, wrap("subscription", err)
	}
	return sub, nil
}

// DeletePubSubSubscription implements storage.PubSub.
func (s *Store) DeletePubSubSubscription(ctx context.Context, svc storage.PubSubService, node, jid string) error {
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		return pubsubAffected(tx.ExecContext(ctx, `DELETE FROM pubsub_subscriptions WHERE node_id = ? AND jid = ?`, id, jid))
	})
	return wrap("delete subscription", err)
}

func queryPubSubSubs(ctx context.Context, tx cachedTx, id int64) ([]storage.PubSubSubscription, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT jid, subid, state FROM pubsub_subscriptions WHERE node_id = ? ORDER BY jid`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var subs []storage.PubSubSubscription
	for rows.Next() {
		var sub storage.PubSubSubscription
		if err := rows.Scan(&sub.JID, &sub.SubID, &sub.State); err != nil {
			return nil, err
		}
		subs = append(subs, sub)
	}
	return subs, rows.Err()
}

// PubSubSubscriptions implements storage.PubSub.
func (s *Store) PubSubSubscriptions(ctx context.Context, svc storage.PubSubService, node string) ([]storage.PubSubSubscription, error) {
	var subs []storage.PubSubSubscription
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		id, err := pubsubNodeID(ctx, tx, svc, node)
		if err != nil {
			return err
		}
		subs, err = queryPubSubSubs(ctx, tx, id)
		return err
	})
	return subs, wrap("subscriptions", err)
}

// PubSubSubscriptionsOf implements storage.PubSub.
func (s *Store) PubSubSubscriptionsOf(ctx context.Context, svc storage.PubSubService, jid string) ([]storage.PubSubSubscription, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT n.node, s.subid, s.state FROM pubsub_nodes AS n
		JOIN pubsub_subscriptions AS s ON s.node_id = n.id AND s.jid = ?
		WHERE n.svc_host = ? AND n.svc_user = ? ORDER BY n.node`,
		jid, svc.Host, svc.Username)
	if err != nil {
		return nil, wrap("subscriptions of", err)
	}
	defer rows.Close()
	var subs []storage.PubSubSubscription
	for rows.Next() {
		sub := storage.PubSubSubscription{JID: jid}
		if err := rows.Scan(&sub.Node, &sub.SubID, &sub.State); err != nil {
			return nil, wrap("subscriptions of", err)
		}
		subs = append(subs, sub)
	}
	return subs, wrap("subscriptions of", rows.Err())
}
