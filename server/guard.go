package server

import (
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// principalOf is who makes a request (zero on public routes).
func principalOf(c *fiber.Ctx) Principal {
	p, _ := c.Locals("principal").(Principal)
	return p
}

// guard authenticates the request, checks the route's role and, on a
// mutating route, that the call comes from our own page (Origin, JSON body,
// the session's CSRF token); then it audits the change.
func (s *Server) guard(rt *route) fiber.Handler {
	mutating := rt.Method != fiber.MethodGet && rt.Method != fiber.MethodHead
	return func(c *fiber.Ctx) error {
		if mutating {
			if err := s.sameOrigin(c); err != nil {
				return err
			}
			if err := jsonBody(c); err != nil {
				return err
			}
		}
		if rt.Need == RolePublic {
			if mutating {
				return s.audit(c)
			}
			return c.Next()
		}
		p, sess, err := s.authenticate(c)
		if err != nil {
			return err
		}
		if p.Role == "" {
			return fiber.NewError(fiber.StatusUnauthorized, "log in first (a session, a bearer token or basic auth)")
		}
		if !p.Role.allows(rt.Need) {
			return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf("%s %s needs the %s role (you are %s)", rt.Method, rt.Path, rt.Need, p.Role))
		}
		c.Locals("principal", p)
		if !mutating {
			return c.Next()
		}
		if p.Via == "session" && !sameToken(c.Get(csrfHeader), sess.csrf) {
			return fiber.NewError(fiber.StatusForbidden, csrfHeader+": missing or wrong (expected the token GET /api/v1/session returns)")
		}
		return s.audit(c)
	}
}

// authenticate reads a bearer token, basic credentials or the session
// cookie; none gives the zero principal, wrong ones an error.
func (s *Server) authenticate(c *fiber.Ctx) (Principal, session, error) {
	h := c.Get(fiber.HeaderAuthorization)
	if tok, ok := bearerToken(h); ok {
		t, ok := s.cfg.Auth.VerifyToken(tok)
		if !ok {
			s.log.Warn("rejected token", "path", c.Path(), "remote", c.IP())
			return Principal{}, session{}, fiber.NewError(fiber.StatusUnauthorized, "Authorization: unknown bearer token")
		}
		return Principal{Name: t.Name, Role: t.Role, Customer: t.Customer, Via: "token"}, session{}, nil
	}
	if user, pass, ok := basicAuth(h); ok {
		u, err := s.checkPassword(c, user, pass)
		if err != nil {
			return Principal{}, session{}, err
		}
		return Principal{Name: u.Name, Role: u.Role, Customer: u.Customer, Via: "basic"}, session{}, nil
	}
	if h != "" {
		return Principal{}, session{}, fiber.NewError(fiber.StatusUnauthorized, "Authorization: not Bearer or Basic")
	}
	if tok := c.Cookies(sessionCookie); tok != "" {
		sess, ok := s.sessions.get(tok)
		if !ok {
			return Principal{}, session{}, fiber.NewError(fiber.StatusUnauthorized, "session expired or logged out: log in again")
		}
		return sess.principal, sess, nil
	}
	return Principal{}, session{}, nil
}

// checkPassword verifies a password under the login rate limit.
func (s *Server) checkPassword(c *fiber.Ctx, user, pass string) (User, error) {
	var retry time.Duration
	paid := false
	admit := func() bool {
		// The token is taken when the bcrypt is admitted (and given back
		// if the password is right), not after it failed: between one
		// check's end and its failure being counted, the next guess
		// would otherwise find the token still there.
		ok, r := s.limiter.take(user, c.IP())
		retry, paid = r, ok
		return ok
	}
	if ok, r := s.limiter.allowed(user, c.IP()); !ok {
		return User{}, s.rateLimited(c, user, r)
	}
	u, ok, admitted := s.cfg.Auth.verify(user, pass, admit)
	if !admitted {
		return User{}, s.rateLimited(c, user, retry)
	}
	if ok && paid {
		s.limiter.refund(user, c.IP())
	}
	if !ok {
		if !paid { // no check was admitted and paid for (no authenticator): count the failure now
			s.limiter.fail(user, c.IP())
		}
		s.log.Warn("rejected credentials", "path", c.Path(), "user", user, "remote", c.IP())
		if !s.cfg.Auth.HasUsers() {
			return User{}, fiber.NewError(fiber.StatusUnauthorized, "no users are configured (server.users); nobody can log in")
		}
		return User{}, fiber.NewError(fiber.StatusUnauthorized, "wrong user name or password")
	}
	return u, nil
}

func (s *Server) rateLimited(c *fiber.Ctx, user string, retry time.Duration) error {
	secs := int(retry.Seconds()) + 1
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	s.log.Warn("login rate limit", "user", user, "remote", c.IP(), "retry_after_s", secs)
	return fiber.NewError(fiber.StatusTooManyRequests, fmt.Sprintf("too many failed logins for this user or address: retry in %d s", secs))
}

// sameOrigin refuses a mutating call from another site: its Origin must be
// this server's, and a browser's Sec-Fetch-Site must not say cross-site.
// Scripts (curl) send neither.
func (s *Server) sameOrigin(c *fiber.Ctx) error {
	if o := c.Get(fiber.HeaderOrigin); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != string(c.Request().Host()) {
			return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf("Origin: %q is not this server (cross-site requests are refused)", o))
		}
	}
	if c.Get("Sec-Fetch-Site") == "cross-site" {
		return fiber.NewError(fiber.StatusForbidden, "Sec-Fetch-Site: cross-site requests are refused")
	}
	return nil
}

// jsonBody refuses a body that says it is not JSON: a form or text/plain
// post is what another site's page can send without asking (a browser
// always labels a body; a script may leave the label out).
func jsonBody(c *fiber.Ctx) error {
	if len(c.Body()) == 0 || c.Get(fiber.HeaderContentType) == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || !strings.EqualFold(mt, fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type: %q (expected application/json)", c.Get(fiber.HeaderContentType)))
	}
	return nil
}
