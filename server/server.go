// Package server is setsuden's one place for HTTP: every route, its
// authentication and role, its JSON shapes and the OpenAPI document. The
// controllers (demand, SLA, the executor's plans) expose plain Go methods
// behind the small interfaces defined here; the server reads state and
// submits operator decisions, and never talks to devices itself.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config wires the server to the rest of setsuden. Every controller may be
// nil: its routes then answer 503 naming the missing configuration.
type Config struct {
	Site    string
	Version string
	// Location is the site's time zone; Locale its language (ja or en):
	// the console shows times there, and Japanese first for ja.
	Location *time.Location
	Locale   string
	Live     *Live
	Gatherer prometheus.Gatherer
	// MetricsPublic leaves /metrics open (for a Prometheus without
	// credentials); otherwise it needs a viewer.
	MetricsPublic bool
	// Health reports nil when the pipeline is healthy.
	Health func(ctx context.Context) error
	// Static is the web UI (web.Assets()).
	Static fs.FS
	Logger *slog.Logger
	// Auth holds the users and tokens; nil or empty: nobody can log in.
	Auth *Authenticator
	// TLSCertFile and TLSKeyFile serve HTTPS (and mark cookies Secure).
	TLSCertFile, TLSKeyFile string
	// SessionTTL is how long a browser stays logged in (default 12h).
	SessionTTL time.Duration
	// Audit records every change (who, what, what it changed, the answer).
	Audit func(ctx context.Context, e AuditEntry)

	Demand DemandController
	SLA    SLAController
	Plans  PlanController
	Series SeriesReader
	// Cost is the month's bill (nil: /api/v1/cost answers 503).
	Cost CostReader
	// Users is the user store an admin manages (nil: users come from the
	// configuration only and the user routes answer 503).
	Users UserStore
	// Now is the clock of sessions and rate limits (default time.Now).
	Now func() time.Time
}

// Server is the HTTP front of setsuden.
type Server struct {
	app      *fiber.App
	cfg      Config
	log      *slog.Logger
	routes   []route
	sessions *sessions
	limiter  *loginLimiter
	audits   *auditRing
	tls      bool

	seriesMemo seriesMemo
}

// maxBody bounds every request body: the largest legitimate one (a
// maintenance window with its services) is a few kilobytes.
const maxBody = 64 << 10

// New builds the routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "server"),
		sessions: newSessions(cfg.SessionTTL, cfg.Now), limiter: newLoginLimiter(cfg.Now),
		audits: newAuditRing(1000), tls: cfg.TLSCertFile != ""}
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		AppName:               "setsuden " + cfg.Version,
		ReadTimeout:           30 * time.Second,
		BodyLimit:             maxBody,
		ErrorHandler:          s.errorHandler,
	})
	s.app.Use(s.securityHeaders)
	s.routes = s.allRoutes()
	for i := range s.routes {
		rt := &s.routes[i]
		s.app.Add(rt.Method, rt.Path, s.guard(rt), rt.Handler)
	}
	if cfg.Static != nil {
		s.app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(cfg.Static), Index: "index.html"}))
	}
	return s
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var bf errBadField
	if errors.As(err, &bf) {
		return badRequest(c, bf.p)
	}
	code := fiber.StatusInternalServerError
	msg := err.Error()
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
		if code == fiber.StatusRequestEntityTooLarge {
			msg = fmt.Sprintf("body: larger than %d KiB (expected a small JSON object)", maxBody>>10)
		}
	} else {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		msg = "internal error (logged on the server)"
	}
	return c.Status(code).JSON(fiber.Map{"error": msg})
}

// securityHeaders: no inline script, no framing, no sniffing, no referrer.
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	if s.tls {
		c.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if strings.HasPrefix(c.Path(), "/api/") {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return c.Next()
}

// App exposes the Fiber app (tests use App().Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve listens on ln until ctx ends, then shuts down gracefully. With a
// certificate configured it serves HTTPS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.tls {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("server.tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	errc := make(chan error, 1)
	go func() { errc <- s.app.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.app.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

func (s *Server) healthz(c *fiber.Ctx) error {
	if s.cfg.Health != nil {
		if err := s.cfg.Health(c.UserContext()); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unhealthy", "error": err.Error()})
		}
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
}

func (s *Server) version(c *fiber.Ctx) error {
	locale := s.cfg.Locale
	if locale == "" {
		locale = "en"
	}
	return c.JSON(fiber.Map{"version": s.cfg.Version, "site": s.cfg.Site, "timezone": s.cfg.Location.String(), "locale": locale})
}
