package pubsub

import (
	"testing"
	"time"
)

func TestCapsCache(t *testing.T) {
	c := newCapsCache(2)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.now = func() time.Time { return now }
	alice, phone := jidOf("alice@example.org"), jidOf("alice@example.org/phone")
	ref := func(ver string) capsRef { return capsRef{hash: "sha-1", node: "n", ver: ver} }

	id := c.request(alice, phone, ref("a"), true)
	if id == "" {
		t.Fatal("no query")
	}
	if again := c.request(alice, jidOf("alice@example.org/pc"), ref("a"), false); again != "" {
		t.Error("a second query for one string")
	}
	// Silence: after the timeout the query is forgotten as failed, and
	// that resource is not asked again; another is.
	now = now.Add(capsQueryTimeout + time.Second)
	if id := c.request(alice, phone, ref("a"), false); id != "" {
		t.Error("asked a resource that did not answer")
	}
	id = c.request(alice, jidOf("alice@example.org/pc"), ref("a"), false)
	if id == "" {
		t.Fatal("another resource was not asked")
	}
	q, ok := c.take(id, jidOf("alice@example.org/pc"))
	if !ok {
		t.Fatal("take")
	}
	served, retry, _ := c.answered(id, q, featureSet{"x": {}})
	if retry != nil || len(served) != 1 || !served[0].full.Equal(phone) {
		t.Errorf("served %v, retry %v", served, retry)
	}
	if fs, ok := c.features(phone, ref("a")); !ok || !fs.has("x") {
		t.Error("not cached")
	}
	// The cache keeps the newest two strings.
	for _, v := range []string{"b", "c"} {
		id := c.request(alice, phone, ref(v), false)
		q, _ := c.take(id, phone)
		c.answered(id, q, featureSet{})
	}
	if _, ok := c.features(phone, ref("a")); ok {
		t.Error("the oldest string was not evicted")
	}
	if _, ok := c.features(phone, ref("c")); !ok {
		t.Error("the newest string is gone")
	}
	// forget clears what a resource failed, so that a new session with
	// its JID is asked again.
	c.forget(phone)
	if id := c.request(alice, phone, ref("a"), false); id == "" {
		t.Error("not asked after forget")
	}
}
