// Package server is setsuden's Fiber app: the web UI, the read API, live
// updates (server-sent events), /healthz and /metrics. It reads state and
// will accept operator decisions; it never talks to devices itself.
package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
)

// Config wires the server to the rest of setsuden.
type Config struct {
	Site     string
	Version  string
	Live     *Live
	Gatherer prometheus.Gatherer
	// Health reports nil when the pipeline is healthy.
	Health func(ctx context.Context) error
	// Static is the web UI (web.Assets()).
	Static fs.FS
	Logger *slog.Logger
	// Auth checks operators for every mutating endpoint; nil disables them.
	Auth *Authenticator
	// Audit records every change an operator makes (who, what, when).
	Audit func(ctx context.Context, operator, action string, detail map[string]string)
	// Extensions add routes: the rules engine's and the reports' APIs.
	Extensions []Extension
}

// Extension adds a feature's routes to /api/v1. Reads need nothing;
// anything that changes state must put the operator handler first:
// r.Post("/x", operator, handler). It requires an authenticated operator
// (the handler finds the name with OperatorOf(c)) and audits the change.
type Extension interface {
	Register(r fiber.Router, operator fiber.Handler)
}

// OperatorOf is the authenticated operator of a request on an operator route.
func OperatorOf(c *fiber.Ctx) string {
	name, _ := c.Locals("operator").(string)
	return name
}

// Server is the HTTP front of setsuden.
type Server struct {
	app *fiber.App
	cfg Config
	log *slog.Logger
}

// New builds the routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		AppName:               "setsuden " + cfg.Version,
		ReadTimeout:           30 * time.Second,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := fiber.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				code = fe.Code
			}
			return c.Status(code).JSON(fiber.Map{"error": err.Error()})
		},
	})
	s := &Server{app: app, cfg: cfg, log: cfg.Logger.With("component", "server")}
	app.Get("/healthz", s.healthz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})))
	api := app.Group("/api/v1")
	api.Get("/live", s.live)
	api.Get("/stream", s.stream)
	api.Get("/version", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"version": cfg.Version, "site": cfg.Site}) })
	for _, e := range cfg.Extensions {
		e.Register(api, s.operatorOnly)
	}
	if cfg.Static != nil {
		app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(cfg.Static), Index: "index.html"}))
	}
	return s
}

// App exposes the Fiber app (tests use App().Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve listens on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
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

// operatorOnly authenticates the operator, runs the handler, and audits.
func (s *Server) operatorOnly(c *fiber.Ctx) error {
	if err := s.authenticate(c); err != nil {
		return err
	}
	return s.audit(c)
}

// audit records an operator's change after the handler ran.
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
	detail := map[string]string{"path": c.Path(), "method": c.Method(), "status": fmt.Sprint(status), "remote": c.IP()}
	s.log.Info("audit", "operator", OperatorOf(c), "action", c.Method()+" "+c.Route().Path, "status", status)
	if s.cfg.Audit != nil {
		s.cfg.Audit(c.UserContext(), OperatorOf(c), c.Method()+" "+c.Route().Path, detail)
	}
	return err
}

func (s *Server) healthz(c *fiber.Ctx) error {
	if s.cfg.Health != nil {
		if err := s.cfg.Health(c.UserContext()); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unhealthy", "error": err.Error()})
		}
	}
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) live(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(s.cfg.Live.Current(c.UserContext()))
}

// stream sends a snapshot whenever the hub refreshes (server-sent events).
func (s *Server) stream(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	ch, cancel := s.cfg.Live.Subscribe(c.UserContext())
	done := s.cfg.Live.Done()
	c.Context().SetBodyStreamWriter(fasthttp.StreamWriter(func(w *bufio.Writer) {
		defer cancel()
		keepalive := time.NewTicker(15 * time.Second)
		defer keepalive.Stop()
		for {
			select {
			case js := <-ch:
				fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", js)
			case <-keepalive.C:
				fmt.Fprint(w, ": keepalive\n\n")
			case <-done:
				return
			}
			if err := w.Flush(); err != nil {
				return // the browser went away
			}
		}
	}))
	return nil
}
