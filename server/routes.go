package server

import (
	"sort"

	"github.com/gofiber/fiber/v2"
)

// route is one endpoint: registered from this table, documented from it in
// the OpenAPI document, and walked by the role tests.
type route struct {
	Method, Path string // Fiber syntax: /api/v1/reports/:month
	Need         Role
	Tag, Summary string
	// Query lists the documented query parameters; Body the request's
	// shape (documentation only).
	Query   []string
	Body    string
	Handler fiber.Handler
}

// allRoutes is every endpoint, a file per area (demand.go, sla.go, ...).
func (s *Server) allRoutes() []route {
	metricsNeed := RoleViewer
	if s.cfg.MetricsPublic {
		metricsNeed = RolePublic
	}
	rs := []route{
		{Method: "GET", Path: "/healthz", Need: RolePublic, Tag: "system", Summary: "liveness: 200 when the pipeline is healthy", Handler: s.healthz},
		{Method: "GET", Path: "/metrics", Need: metricsNeed, Tag: "system", Summary: "Prometheus metrics", Handler: s.metricsHandler()},
		{Method: "GET", Path: "/api/v1/openapi.json", Need: RolePublic, Tag: "system", Summary: "this document", Handler: s.openapi},
		{Method: "GET", Path: "/api/v1/version", Need: RoleAnyUser, Tag: "system", Summary: "version, site, time zone and locale", Handler: s.version},
		{Method: "POST", Path: "/api/v1/session", Need: RolePublic, Tag: "session", Summary: "log in: sets the session cookie, returns the CSRF token",
			Body: `{"name": "alice", "password": "..."}`, Handler: s.login},
		{Method: "GET", Path: "/api/v1/session", Need: RoleAnyUser, Tag: "session", Summary: "who is logged in, with the CSRF token", Handler: s.whoami},
		{Method: "DELETE", Path: "/api/v1/session", Need: RoleAnyUser, Tag: "session", Summary: "log out", Handler: s.logout},
		{Method: "GET", Path: "/api/v1/audit", Need: RoleAdmin, Tag: "admin", Summary: "the newest changes made through the API", Query: []string{"limit"}, Handler: s.auditLog},
	}
	rs = append(rs, s.liveRoutes()...)
	rs = append(rs, s.seriesRoutes()...)
	rs = append(rs, s.demandRoutes()...)
	rs = append(rs, s.slaRoutes()...)
	rs = append(rs, s.planRoutes()...)
	rs = append(rs, s.costRoutes()...)
	rs = append(rs, s.incidentRoutes()...)
	rs = append(rs, s.alarmRoutes()...)
	rs = append(rs, s.userRoutes()...)
	return rs
}

func sortBy[T any](xs []T, key func(T) string) {
	sort.Slice(xs, func(i, j int) bool { return key(xs[i]) < key(xs[j]) })
}
