package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// AuditEntry is one change made through the API: who, what, what it
// changed (kW, window, reason ...), and the answer.
type AuditEntry struct {
	Time    time.Time      `json:"time"`
	User    string         `json:"user"`
	Role    Role           `json:"role,omitempty"`
	Via     string         `json:"via,omitempty"`
	Action  string         `json:"action"` // METHOD /route/:pattern
	Path    string         `json:"path"`
	Status  int            `json:"status"`
	Remote  string         `json:"remote"`
	Changes map[string]any `json:"changes,omitempty"`
}

// changed records what a handler changed, for the audit entry.
func changed(c *fiber.Ctx, key string, value any) {
	m, _ := c.Locals("audit.changes").(map[string]any)
	if m == nil {
		m = map[string]any{}
		c.Locals("audit.changes", m)
	}
	m[key] = value
}

// audit runs the handler and records the change, the refused ones too.
func (s *Server) audit(c *fiber.Ctx) error {
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status = fe.Code
		} else {
			status = fiber.StatusInternalServerError
		}
	}
	p := principalOf(c)
	if p.Name == "" {
		p.Name, _ = c.Locals("audit.user").(string)
	}
	changes, _ := c.Locals("audit.changes").(map[string]any)
	e := AuditEntry{Time: s.cfg.Now(), User: p.Name, Role: p.Role, Via: p.Via, Action: c.Method() + " " + c.Route().Path,
		Path: c.Path(), Status: status, Remote: c.IP(), Changes: changes}
	attrs := []any{"user", e.User, "action", e.Action, "status", status, "remote", e.Remote}
	for k, v := range changes {
		attrs = append(attrs, k, v)
	}
	s.log.Info("audit", attrs...)
	s.audits.add(e)
	if s.cfg.Audit != nil {
		s.cfg.Audit(context.WithoutCancel(c.UserContext()), e)
	}
	return err
}

// auditRing keeps the newest entries for GET /api/v1/audit.
type auditRing struct {
	mu   sync.Mutex
	buf  []AuditEntry
	next int
	full bool
}

func newAuditRing(n int) *auditRing { return &auditRing{buf: make([]AuditEntry, n)} }

func (r *auditRing) add(e AuditEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	r.full = r.full || r.next == 0
}

// newest returns up to n entries, newest first.
func (r *auditRing) newest(n int) []AuditEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.buf)
	}
	out := make([]AuditEntry, 0, min(n, size))
	for i := 1; i <= size && len(out) < n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
