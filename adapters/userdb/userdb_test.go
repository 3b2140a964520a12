package userdb

import (
	"context"
	"database/sql"
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

// TestTokenNameAndLastUsedInAFileOfTheFirstSchema: a file written before
// tokens had a name and a last use gets the columns on open, keeps its
// token, and stores both from then on.
func TestTokenNameAndLastUsedInAFileOfTheFirstSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, customer TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL);
CREATE TABLE user_tokens (
  user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE, id TEXT NOT NULL,
  sha256 TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  PRIMARY KEY (user_name, id));
INSERT INTO users VALUES ('bob', 'operator', '', 'h', 0, 'ada', 1, 'ada', 1);
INSERT INTO user_tokens VALUES ('bob', 'old1', 'ab', 'ada', 1);`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Tokens) != 1 || got[0].Tokens[0].ID != "old1" || got[0].Tokens[0].Name != "" || !got[0].Tokens[0].LastUsed.IsZero() {
		t.Fatalf("old file: %+v", got)
	}
	used := time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)
	u := got[0]
	u.Tokens = append(u.Tokens, server.StoredToken{ID: "new1", Name: "grafana", SHA256: "cd", CreatedAt: used, LastUsed: used})
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0].Tokens) != 2 || got[0].Tokens[1].Name != "grafana" || !got[0].Tokens[1].LastUsed.Equal(used) || !got[0].Tokens[0].LastUsed.IsZero() {
		t.Fatalf("after put: %+v", got[0].Tokens)
	}
}
