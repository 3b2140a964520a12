package main

import (
	"context"
	"fmt"

	"github.com/setsuden/setsuden/adapters/userdb"
	"github.com/setsuden/setsuden/config"
)

// openUserStore opens the user store: server.user_store, else the
// executor's audit store file; nil when neither is configured.
func openUserStore(cfg *config.Config) (*userdb.Store, error) {
	path, field := cfg.Server.UserStore, "server.user_store"
	if path == "" {
		path, field = cfg.Executor.Store, "executor.store"
	}
	if path == "" {
		return nil, nil
	}
	s, err := userdb.Open(context.Background(), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return s, nil
}
