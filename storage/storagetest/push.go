package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"parley.im/parley/storage"
)

// RunPush runs the subtests of the Push area; Run calls it.
func RunPush(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"PutListDelete", testPushPutListDelete},
		{"ReplaceKeepsOne", testPushReplace},
		{"Quota", testPushQuota},
		{"MissingAccount", testPushMissingAccount},
		{"DeleteAccountCascades", testPushDeleteAccount},
		{"Separate", testPushSeparate},
	})
}

func mustPutPush(t *testing.T, s storage.Push, host, user string, r storage.PushRegistration, limit int) {
	t.Helper()
	if err := s.PutPushRegistration(t.Context(), host, user, r, limit); err != nil {
		t.Fatalf("PutPushRegistration(%q, %q, %s %s): %v", host, user, r.Service, r.Node, err)
	}
}

// mustPushRegs checks an account's registrations: service, node and options,
// in order.
func mustPushRegs(t *testing.T, s storage.Push, host, user string, want ...storage.PushRegistration) {
	t.Helper()
	got, err := s.PushRegistrations(t.Context(), host, user)
	if err != nil {
		t.Fatalf("PushRegistrations(%q, %q): %v", host, user, err)
	}
	str := func(rs []storage.PushRegistration) string {
		var b bytes.Buffer
		for _, r := range rs {
			fmt.Fprintf(&b, "[%s %s %q] ", r.Service, r.Node, r.Options)
		}
		return b.String()
	}
	if str(got) != str(want) {
		t.Errorf("PushRegistrations(%q, %q):\n got %s\nwant %s", host, user, str(got), str(want))
	}
	for _, r := range got {
		if r.Created.IsZero() {
			t.Errorf("registration %s %s has no creation time", r.Service, r.Node)
		}
	}
}

func testPushPutListDelete(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustPushRegs(t, s, host, user)
	opts := []byte("<x xmlns='jabber:x:data' type='submit'>\x00'\\</x>")
	a := storage.PushRegistration{Service: "push.example.net", Node: "n2", Options: opts}
	b := storage.PushRegistration{Service: "push.example.net", Node: "n1"}
	c := storage.PushRegistration{Service: "app.example.com", Node: "zz"}
	for _, r := range []storage.PushRegistration{a, b, c} {
		mustPutPush(t, s, host, user, r, 0)
	}
	mustPushRegs(t, s, host, user, c, b, a)
	if n, err := s.DeletePushRegistrations(t.Context(), host, user, "push.example.net", "n1"); n != 1 || err != nil {
		t.Errorf("delete one node: %d, %v; want 1", n, err)
	}
	mustPushRegs(t, s, host, user, c, a)
	if n, err := s.DeletePushRegistrations(t.Context(), host, user, "push.example.net", "n1"); n != 0 || err != nil {
		t.Errorf("delete it again: %d, %v; want 0, nil", n, err)
	}
	mustPutPush(t, s, host, user, b, 0)
	if n, err := s.DeletePushRegistrations(t.Context(), host, user, "push.example.net", ""); n != 2 || err != nil {
		t.Errorf("delete all of a service: %d, %v; want 2", n, err)
	}
	mustPushRegs(t, s, host, user, c)
}

func testPushReplace(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustPutPush(t, s, host, user, storage.PushRegistration{Service: "p.example", Node: "n", Options: []byte("old")}, 1)
	// The same service and node again: replaced, even at the limit.
	mustPutPush(t, s, host, user, storage.PushRegistration{Service: "p.example", Node: "n", Options: []byte("new")}, 1)
	mustPushRegs(t, s, host, user, storage.PushRegistration{Service: "p.example", Node: "n", Options: []byte("new")})
	mustPutPush(t, s, host, user, storage.PushRegistration{Service: "p.example", Node: "n"}, 1)
	mustPushRegs(t, s, host, user, storage.PushRegistration{Service: "p.example", Node: "n"})
}

func testPushQuota(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	for i := range 3 {
		mustPutPush(t, s, host, user, storage.PushRegistration{Service: "p.example", Node: fmt.Sprint("n", i)}, 3)
	}
	err := s.PutPushRegistration(t.Context(), host, user, storage.PushRegistration{Service: "p.example", Node: "n9"}, 3)
	if !errors.Is(err, storage.ErrQuota) {
		t.Errorf("a fourth registration with limit 3: %v, want ErrQuota", err)
	}
	mustPushRegs(t, s, host, user,
		storage.PushRegistration{Service: "p.example", Node: "n0"},
		storage.PushRegistration{Service: "p.example", Node: "n1"},
		storage.PushRegistration{Service: "p.example", Node: "n2"})
}

func testPushMissingAccount(t *testing.T, s storage.Store) {
	err := s.PutPushRegistration(t.Context(), "example.org", "ghost", storage.PushRegistration{Service: "p.example", Node: "n"}, 0)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("put for a missing account: %v, want ErrNotFound", err)
	}
	mustPushRegs(t, s, "example.org", "ghost")
	if n, err := s.DeletePushRegistrations(t.Context(), "example.org", "ghost", "p.example", ""); n != 0 || err != nil {
		t.Errorf("delete for a missing account: %d, %v", n, err)
	}
}

func testPushDeleteAccount(t *testing.T, s storage.Store) {
	const host = "example.org"
	mustCreate(t, s, host, "alice", nil)
	mustPutPush(t, s, host, "alice", storage.PushRegistration{Service: "p.example", Node: "n"}, 0)
	if err := s.DeleteAccount(t.Context(), host, "alice"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, host, "alice", nil)
	mustPushRegs(t, s, host, "alice")
}

func testPushSeparate(t *testing.T, s storage.Store) {
	for _, a := range [][2]string{{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"}} {
		mustCreate(t, s, a[0], a[1], nil)
		mustPutPush(t, s, a[0], a[1], storage.PushRegistration{Service: "p.example", Node: a[1] + "@" + a[0]}, 1)
	}
	if n, err := s.DeletePushRegistrations(t.Context(), "example.org", "alice", "p.example", ""); n != 1 || err != nil {
		t.Errorf("delete alice@example.org's: %d, %v", n, err)
	}
	mustPushRegs(t, s, "example.org", "alice")
	mustPushRegs(t, s, "example.org", "bob", storage.PushRegistration{Service: "p.example", Node: "bob@example.org"})
	mustPushRegs(t, s, "example.net", "alice", storage.PushRegistration{Service: "p.example", Node: "alice@example.net"})
}
