package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// SessionView is the body of GET/POST /api/v1/session.
type SessionView struct {
	User Principal `json:"user"`
	// CSRFToken goes in the X-CSRF-Token header of every mutating call.
	CSRFToken string `json:"csrf_token,omitempty"`
	Site      string `json:"site"`
	Timezone  string `json:"timezone"`
	Locale    string `json:"locale"`
}

func (s *Server) sessionView(p Principal, csrf string) SessionView {
	locale := s.cfg.Locale
	if locale == "" {
		locale = "en"
	}
	return SessionView{User: p, CSRFToken: csrf, Site: s.cfg.Site, Timezone: s.cfg.Location.String(), Locale: locale}
}

// login checks a name and password (rate-limited) and starts a session:
// an HttpOnly, SameSite=Strict cookie (Secure over TLS).
func (s *Server) login(c *fiber.Ctx) error {
	var body struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if p := decodeStrict(c.Body(), &body, `{"name": "...", "password": "..."}`); p != nil {
		return badRequest(c, *p)
	}
	var probs problems
	if strings.TrimSpace(body.Name) == "" {
		probs.add("name", "missing (expected your user name)")
	} else if len(body.Name) > 64 {
		probs.add("name", "longer than 64 characters (expected a user name)")
	}
	if body.Password == "" {
		probs.add("password", "missing")
	} else if len(body.Password) > 256 {
		probs.add("password", "longer than 256 characters")
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	c.Locals("audit.user", body.Name)
	u, err := s.checkPassword(c, body.Name, body.Password)
	if err != nil {
		return err
	}
	p := Principal{Name: u.Name, Role: u.Role, Customer: u.Customer}
	token, sess := s.sessions.create(p)
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: token, Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
		Secure: s.tls, Expires: sess.expires})
	changed(c, "session", "login")
	return c.JSON(s.sessionView(sess.principal, sess.csrf))
}

func (s *Server) whoami(c *fiber.Ctx) error {
	p := principalOf(c)
	csrf := ""
	if sess, ok := s.sessions.get(c.Cookies(sessionCookie)); ok && p.Via == "session" {
		csrf = sess.csrf
	}
	return c.JSON(s.sessionView(p, csrf))
}

func (s *Server) logout(c *fiber.Ctx) error {
	s.sessions.delete(c.Cookies(sessionCookie))
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: "", Path: "/", HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
		Secure: s.tls, MaxAge: -1})
	changed(c, "session", "logout")
	return c.JSON(fiber.Map{"logged_out": true})
}

func (s *Server) auditLog(c *fiber.Ctx) error {
	n := c.QueryInt("limit", 200)
	if n < 1 || n > 1000 {
		return badRequest(c, FieldProblem{Field: "limit", Msg: "out of range (expected 1 to 1000)"})
	}
	return c.JSON(fiber.Map{"entries": s.audits.newest(n)})
}
