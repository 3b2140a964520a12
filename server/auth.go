package server

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"
)

// Operator is a person allowed to change things: submit a maintenance
// window, set an external demand target, approve a plan. Only a bcrypt hash
// of the password is ever configured or kept.
type Operator struct {
	Name         string
	PasswordHash string
}

// Authenticator checks operators' HTTP basic credentials. A successful
// bcrypt check is remembered for a few minutes as a SHA-256 of the
// credentials, so a busy client does not cost a bcrypt per request.
type Authenticator struct {
	hashes map[string][]byte

	mu    sync.Mutex
	valid map[[32]byte]time.Time
	now   func() time.Time
}

// rememberFor is how long a verified credential skips bcrypt.
const rememberFor = 5 * time.Minute

// NewAuthenticator validates the operators' hashes.
func NewAuthenticator(ops []Operator) (*Authenticator, error) {
	a := &Authenticator{hashes: map[string][]byte{}, valid: map[[32]byte]time.Time{}, now: time.Now}
	for _, op := range ops {
		if op.Name == "" {
			return nil, errors.New("operator without a name")
		}
		if _, err := bcrypt.Cost([]byte(op.PasswordHash)); err != nil {
			return nil, fmt.Errorf("operator %q: password_hash is not a bcrypt hash (make one with `setsuden hash-password`): %w", op.Name, err)
		}
		a.hashes[op.Name] = []byte(op.PasswordHash)
	}
	return a, nil
}

// Verify reports whether name/password is a configured operator.
func (a *Authenticator) Verify(name, password string) bool {
	hash, ok := a.hashes[name]
	if !ok {
		// Spend the same time as a real check so names cannot be probed.
		_ = bcrypt.CompareHashAndPassword([]byte("$2a$10$0000000000000000000000000000000000000000000000000000."), []byte(password))
		return false
	}
	key := sha256.Sum256([]byte(name + "\x00" + password))
	a.mu.Lock()
	until, seen := a.valid[key]
	a.mu.Unlock()
	if seen && a.now().Before(until) {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	a.mu.Lock()
	a.valid[key] = a.now().Add(rememberFor)
	a.mu.Unlock()
	return true
}

// HashPassword makes the bcrypt hash to put in the configuration.
func HashPassword(password string) (string, error) {
	if len(password) < 12 {
		return "", errors.New("password too short (expected at least 12 characters)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	return string(h), err
}

// authenticate guards every mutating endpoint: HTTP basic auth against
// the configured operators; the operator's name goes to c.Locals("operator")
// for the audit trail. With no operators configured nothing can be changed.
func (s *Server) authenticate(c *fiber.Ctx) error {
	if s.cfg.Auth == nil || len(s.cfg.Auth.hashes) == 0 {
		return fiber.NewError(fiber.StatusForbidden, "no operators are configured (server.operators); changes are disabled")
	}
	user, pass, ok := basicAuth(c)
	if !ok || !s.cfg.Auth.Verify(user, pass) {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="setsuden", charset="UTF-8"`)
		s.log.Warn("rejected credentials", "path", c.Path(), "user", user, "remote", c.IP())
		return fiber.NewError(fiber.StatusUnauthorized, "operator credentials required")
	}
	c.Locals("operator", user)
	return nil
}

func basicAuth(c *fiber.Ctx) (user, pass string, ok bool) {
	h := c.Get(fiber.HeaderAuthorization)
	const prefix = "Basic "
	if len(h) < len(prefix) || !equalFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := decodeBase64(h[len(prefix):])
	if err != nil {
		return "", "", false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] == ':' {
			return string(raw[:i]), string(raw[i+1:]), true
		}
	}
	return "", "", false
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimSpace(s))
}
