package userdb

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/executor"
	"github.com/setsuden/setsuden/server"
)

// TestUsersSurviveReopenBesideTheExecutorStore writes users into the
// executor's SQLite file, reopens it and reads them back.
func TestUsersSurviveReopenBesideTheExecutorStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "executor.db")
	ex, err := executor.OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 7, 1, 5, 0, 0, 0, time.UTC)
	u := server.StoredUser{Name: "bob", Role: server.RoleCustomer, Customer: "Demo Corp.", PasswordHash: "$2a$12$x", CreatedBy: "ada", CreatedAt: now,
		UpdatedBy: "ada", UpdatedAt: now, Tokens: []server.StoredToken{{ID: "t1", SHA256: "ab", CreatedBy: "ada", CreatedAt: now}}}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	u.Disabled, u.UpdatedBy, u.Tokens = true, "sam", nil
	u.Tokens = []server.StoredToken{{ID: "t2", SHA256: "cd", CreatedBy: "sam", CreatedAt: now}}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser(ctx, server.StoredUser{Name: "eve", Role: server.RoleViewer, PasswordHash: "h", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "eve"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "bob" || !got[0].Disabled || got[0].CreatedBy != "ada" || got[0].UpdatedBy != "sam" ||
		got[0].Customer != "Demo Corp." || len(got[0].Tokens) != 1 || got[0].Tokens[0].ID != "t2" || !got[0].CreatedAt.Equal(now) {
		t.Fatalf("got %+v", got)
	}
}
