// Package userdb keeps the users an admin manages (server.UserStore) in
// SQLite: the same file as the executor's audit store, in its own tables.
package userdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"github.com/setsuden/setsuden/server"
)

// Store is the user store.
type Store struct {
	db   *sql.DB
	path string
}

const schema = `
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, customer TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS user_tokens (
  user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE, id TEXT NOT NULL,
  sha256 TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  PRIMARY KEY (user_name, id));
`

// tokenColumns are the user_tokens columns added after the first release:
// a file written before them gets them on open.
var tokenColumns = []struct{ name, decl string }{
	{"name", "TEXT NOT NULL DEFAULT ''"},
	{"last_used", "INTEGER NOT NULL DEFAULT 0"},
}

func addTokenColumns(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('user_tokens')`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range tokenColumns {
		if !have[c.name] {
			if _, err := db.ExecContext(ctx, `ALTER TABLE user_tokens ADD COLUMN `+c.name+` `+c.decl); err != nil {
				return fmt.Errorf("add column %s: %w", c.name, err)
			}
		}
	}
	return nil
}

// Open opens (creating if needed) the user tables in the SQLite file.
func Open(ctx context.Context, path string) (*Store, error) {
	if strings.TrimSpace(path) == "" {
		return nil, errors.New("user store: path is empty")
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("user store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("user store %s: create tables: %w", path, err)
	}
	if err := addTokenColumns(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("user store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// ListUsers returns every user with its tokens, by name.
func (s *Store) ListUsers(ctx context.Context) ([]server.StoredUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, customer, password_hash, disabled, created_by, created_at, updated_by, updated_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("user store %s: %w", s.path, err)
	}
	var out []server.StoredUser
	idx := map[string]int{}
	for rows.Next() {
		var u server.StoredUser
		var role string
		var disabled int
		var created, updated int64
		if err := rows.Scan(&u.Name, &role, &u.Customer, &u.PasswordHash, &disabled, &u.CreatedBy, &created, &u.UpdatedBy, &updated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("user store %s: %w", s.path, err)
		}
		u.Role, u.Disabled = server.Role(role), disabled != 0
		u.CreatedAt, u.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		idx[u.Name] = len(out)
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user store %s: %w", s.path, err)
	}
	trows, err := s.db.QueryContext(ctx, `SELECT user_name, id, name, sha256, created_by, created_at, last_used FROM user_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("user store %s: %w", s.path, err)
	}
	defer trows.Close()
	for trows.Next() {
		var name string
		var t server.StoredToken
		var created, used int64
		if err := trows.Scan(&name, &t.ID, &t.Name, &t.SHA256, &t.CreatedBy, &created, &used); err != nil {
			return nil, fmt.Errorf("user store %s: %w", s.path, err)
		}
		t.CreatedAt = time.UnixMilli(created).UTC()
		if used != 0 {
			t.LastUsed = time.UnixMilli(used).UTC()
		}
		if i, ok := idx[name]; ok {
			out[i].Tokens = append(out[i].Tokens, t)
		}
	}
	return out, trows.Err()
}

// PutUser writes the user and replaces its tokens, in one transaction.
func (s *Store) PutUser(ctx context.Context, u server.StoredUser) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("user store %s: %w", s.path, err)
	}
	defer tx.Rollback()
	disabled := 0
	if u.Disabled {
		disabled = 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, customer, password_hash, disabled, created_by, created_at, updated_by, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET role=excluded.role, customer=excluded.customer,
password_hash=excluded.password_hash, disabled=excluded.disabled, updated_by=excluded.updated_by, updated_at=excluded.updated_at`,
		u.Name, string(u.Role), u.Customer, u.PasswordHash, disabled, u.CreatedBy, u.CreatedAt.UnixMilli(), u.UpdatedBy, u.UpdatedAt.UnixMilli()); err != nil {
		return fmt.Errorf("user store %s: user %q: %w", s.path, u.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_tokens WHERE user_name = ?`, u.Name); err != nil {
		return fmt.Errorf("user store %s: user %q: %w", s.path, u.Name, err)
	}
	for _, t := range u.Tokens {
		var used int64
		if !t.LastUsed.IsZero() {
			used = t.LastUsed.UnixMilli()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_tokens (user_name, id, name, sha256, created_by, created_at, last_used) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.Name, t.ID, t.Name, t.SHA256, t.CreatedBy, t.CreatedAt.UnixMilli(), used); err != nil {
			return fmt.Errorf("user store %s: user %q token %s: %w", s.path, u.Name, t.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("user store %s: %w", s.path, err)
	}
	return nil
}

// DeleteUser removes the user and its tokens.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name); err != nil {
		return fmt.Errorf("user store %s: delete %q: %w", s.path, name, err)
	}
	return nil
}
