package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// CostReader is what the server needs of the bill: the month's electricity
// bill rebuilt from the metered blocks, as `setsuden cost --format json`
// prints it (with --shed, and with --labels for one grouping).
type CostReader interface {
	Bill(ctx context.Context, q CostQuery) (any, error)
}

// CostQuery is one bill request, checked here: Month is YYYY-MM in the
// site's time zone; Shed also values the month's shed blocks (and the
// summer's); By shares the bill per tenant, service or vm ("": none).
type CostQuery struct {
	Month string
	Shed  bool
	By    string
}

// CostBy are the groupings a bill can be shared by (?by=).
var CostBy = []string{"tenant", "service", "vm"}

// NotConfigured is a reader's error for something the configuration
// lacks (e.g. the VM labels a tenant share needs): 503 with its message.
type NotConfigured struct{ Msg string }

func (e NotConfigured) Error() string { return e.Msg }

// oldestBill: a basic charge looks back 12 months; further than this back
// has no metered data left (and 1900-01 is a typo).
const oldestBill = 5 // years

func (s *Server) costRoutes() []route {
	return []route{
		// Operators and admins: the bill is the site's business, not a
		// viewer's dashboard or a customer's report (their share is in the
		// report of their services).
		{Method: "GET", Path: "/api/v1/cost", Need: RoleOperator, Tag: "money", Summary: "the month's electricity bill from the meters (as setsuden cost --format json); shed=1 adds the value of its shed events (--shed), by=tenant|service|vm its shares (--labels)",
			Query: []string{"month", "shed", "by"}, Handler: s.cost},
	}
}

func (s *Server) cost(c *fiber.Ctx) error {
	if s.cfg.Cost == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "no electricity contract is configured (tariff: section)")
	}
	loc := s.cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	now := s.cfg.Now().In(loc)
	month := strings.Clone(c.Query("month")) // fiber reuses the request buffer
	if month == "" {
		month = now.Format("2006-01")
	}
	if p := checkMonth(month); p != nil {
		return badRequest(c, *p)
	}
	m, _ := time.ParseInLocation("2006-01", month, loc)
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	switch {
	case m.After(thisMonth):
		return badRequest(c, FieldProblem{Field: "month", Msg: month + " is in the future (expected " + thisMonth.Format("2006-01") + " or earlier)"})
	case m.Before(thisMonth.AddDate(-oldestBill, 0, 0)):
		return badRequest(c, FieldProblem{Field: "month", Msg: month + " is more than 5 years back (no metered data to bill from)"})
	}
	q := CostQuery{Month: month}
	var probs problems
	switch v := c.Query("shed"); v {
	case "", "0", "false":
	case "1", "true":
		q.Shed = true
	default:
		probs.add("shed", "%q is not allowed (expected 1, true, 0 or false)", v)
	}
	if v := c.Query("by"); v != "" {
		ok := false
		for _, b := range CostBy {
			ok = ok || v == b
		}
		if !ok {
			probs.add("by", "%q is not allowed (expected one of %s)", v, strings.Join(CostBy, ", "))
		}
		q.By = strings.Clone(v)
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	bill, err := s.cfg.Cost.Bill(c.UserContext(), q)
	var nc NotConfigured
	if errors.As(err, &nc) {
		return fiber.NewError(fiber.StatusServiceUnavailable, nc.Msg)
	}
	if err != nil {
		return err
	}
	return c.JSON(bill)
}
