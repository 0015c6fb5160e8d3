package muc_test

import (
	"context"
	"log"
	"time"

	"parley.im/parley/module"
	"parley.im/parley/muc"
	"parley.im/parley/router"
	"parley.im/parley/storage"
)

// The service of each host runs on conference.<host> once the module is
// added to the registry: Register makes it the router's component for
// that domain and lists it in the server's disco#items; Start runs the
// janitor that unloads idle rooms; Stop tells every occupant the service
// is going (status 332) and unregisters the components.
func ExampleNew() {
	var store storage.Store // the server's store
	rt := router.New(router.Config{Hosts: []string{"example.org"}})
	reg := module.NewRegistry(module.Env{Router: rt, Store: store})
	m := muc.New(store, muc.Options{
		Admins:           map[string][]string{"example.org": {"admin@example.org"}},
		Create:           muc.CreateLocal,
		MaxRoomsPerUser:  10,
		MessageRate:      2,
		MessageBurst:     10,
		OccupantIDSecret: []byte("derived from the server's persistent secret"),
		IdleTimeout:      10 * time.Minute,
	})
	if err := reg.Add(m); err != nil {
		log.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer reg.Stop(context.Background())
}
