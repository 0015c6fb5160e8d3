package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"parley.im/parley/c2s"
	"parley.im/parley/storage"
)

// Metrics is the Prometheus registry of one server and the c2s.Observer
// that feeds it. Server wires it into c2s.Deps.Observer and wraps the
// store with TimedStore; /metrics serves it.
type Metrics struct {
	reg *prometheus.Registry

	sessions      *prometheus.GaugeVec
	sessionsTotal *prometheus.CounterVec
	stanzasIn     *prometheus.CounterVec
	stanzasOut    *prometheus.CounterVec
	auth          *prometheus.CounterVec
	queueDrops    prometheus.Counter
	storage       *prometheus.HistogramVec

	// The three stanza kinds resolved once: the observer runs per stanza.
	in, out map[string]prometheus.Counter
}

var _ c2s.Observer = (*Metrics)(nil) // interface guard

// NewMetrics builds the registry with Parley's metrics and the Go runtime
// and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "parley_sessions", Help: "Client sessions bound now, by transport (tcp, websocket, bosh).",
	}, []string{"transport"})
	m.sessionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_sessions_started_total", Help: "Client sessions bound since start, by transport.",
	}, []string{"transport"})
	m.stanzasIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_stanzas_in_total", Help: "Stanzas received from clients, by kind (message, presence, iq).",
	}, []string{"kind"})
	m.stanzasOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_stanzas_out_total", Help: "Stanzas written to clients, by kind (message, presence, iq).",
	}, []string{"kind"})
	m.auth = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_auth_total", Help: "SASL exchanges that ended, by mechanism and result (success, failure).",
	}, []string{"mechanism", "result"})
	m.queueDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "parley_queue_drops_total", Help: "Sessions closed because their outbound queue was full.",
	})
	m.storage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "parley_storage_seconds",
		Help:    "Latency of the storage calls on the hot path (logins, rosters, offline messages, the archive, block lists, pings), by operation.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"op"})
	m.reg.MustRegister(m.sessions, m.sessionsTotal, m.stanzasIn, m.stanzasOut, m.auth, m.queueDrops, m.storage,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.in, m.out = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, k := range []string{"message", "presence", "iq"} {
		m.in[k] = m.stanzasIn.WithLabelValues(k)
		m.out[k] = m.stanzasOut.WithLabelValues(k)
	}
	return m
}

// Registry is the Prometheus registry, for other packages' collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// SessionStarted implements c2s.Observer.
func (m *Metrics) SessionStarted(transport string) {
	m.sessions.WithLabelValues(transport).Inc()
	m.sessionsTotal.WithLabelValues(transport).Inc()
}

// SessionEnded implements c2s.Observer.
func (m *Metrics) SessionEnded(transport string) { m.sessions.WithLabelValues(transport).Dec() }

// StanzaIn implements c2s.Observer.
func (m *Metrics) StanzaIn(kind string) {
	if c, ok := m.in[kind]; ok {
		c.Inc()
		return
	}
	m.stanzasIn.WithLabelValues(kind).Inc()
}

// StanzaOut implements c2s.Observer.
func (m *Metrics) StanzaOut(kind string) {
	if c, ok := m.out[kind]; ok {
		c.Inc()
		return
	}
	m.stanzasOut.WithLabelValues(kind).Inc()
}

// Auth implements c2s.Observer.
func (m *Metrics) Auth(mechanism string, ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	m.auth.WithLabelValues(mechanism, result).Inc()
}

// QueueDrop implements c2s.Observer.
func (m *Metrics) QueueDrop() { m.queueDrops.Inc() }

// TimedStore wraps st so that the calls on the hot path record their
// latency in parley_storage_seconds{op}. Every other method passes through
// untimed (the embedded Store), so a method added to storage.Store later
// needs nothing here. One wrapper serves both backends, which is why this
// is not a pgx tracer: the SQLite default would get no figures from one.
func TimedStore(st storage.Store, m *Metrics) storage.Store {
	if m == nil {
		return st
	}
	t := &timedStore{Store: st, obs: map[string]prometheus.Observer{}}
	for _, op := range []string{"account", "account_exists", "roster_items", "roster_item", "push_offline",
		"offline_messages", "append_archive", "query_archive", "blocked_jids", "ping"} {
		t.obs[op] = m.storage.WithLabelValues(op)
	}
	return t
}

type timedStore struct {
	storage.Store
	obs map[string]prometheus.Observer
}

func (t *timedStore) since(op string, start time.Time) {
	t.obs[op].Observe(time.Since(start).Seconds())
}

func (t *timedStore) Account(ctx context.Context, host, username string) (storage.Account, error) {
	defer t.since("account", time.Now())
	return t.Store.Account(ctx, host, username)
}

func (t *timedStore) AccountExists(ctx context.Context, host, username string) (bool, error) {
	defer t.since("account_exists", time.Now())
	return t.Store.AccountExists(ctx, host, username)
}

func (t *timedStore) RosterItems(ctx context.Context, host, username string) ([]storage.RosterItem, int64, error) {
	defer t.since("roster_items", time.Now())
	return t.Store.RosterItems(ctx, host, username)
}

func (t *timedStore) RosterItem(ctx context.Context, host, username, contact string) (storage.RosterItem, error) {
	defer t.since("roster_item", time.Now())
	return t.Store.RosterItem(ctx, host, username, contact)
}

func (t *timedStore) PushOffline(ctx context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error {
	defer t.since("push_offline", time.Now())
	return t.Store.PushOffline(ctx, host, username, stanza, stamp, limit)
}

func (t *timedStore) OfflineMessages(ctx context.Context, host, username string) ([]storage.OfflineMessage, error) {
	defer t.since("offline_messages", time.Now())
	return t.Store.OfflineMessages(ctx, host, username)
}

func (t *timedStore) AppendArchive(ctx context.Context, entries []storage.ArchiveEntry) error {
	defer t.since("append_archive", time.Now())
	return t.Store.AppendArchive(ctx, entries)
}

func (t *timedStore) QueryArchive(ctx context.Context, host, username string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	defer t.since("query_archive", time.Now())
	return t.Store.QueryArchive(ctx, host, username, q)
}

func (t *timedStore) BlockedJIDs(ctx context.Context, host, username string) ([]string, error) {
	defer t.since("blocked_jids", time.Now())
	return t.Store.BlockedJIDs(ctx, host, username)
}

func (t *timedStore) Ping(ctx context.Context) error {
	defer t.since("ping", time.Now())
	return t.Store.Ping(ctx)
}
