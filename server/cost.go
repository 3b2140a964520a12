package server

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// CostReader is what the server needs of the bill: the month's electricity
// bill rebuilt from the metered blocks, as `setsuden cost --format json`
// prints it. month is YYYY-MM in the site's time zone (checked here).
type CostReader interface {
	Bill(ctx context.Context, month string) (any, error)
}

// oldestBill: a basic charge looks back 12 months; further than this back
// has no metered data left (and 1900-01 is a typo).
const oldestBill = 5 // years

func (s *Server) costRoutes() []route {
	return []route{
		// Operators and admins: the bill is the site's business, not a
		// viewer's dashboard or a customer's report (their share is in the
		// report of their services).
		{Method: "GET", Path: "/api/v1/cost", Need: RoleOperator, Tag: "money", Summary: "the month's electricity bill from the meters (as setsuden cost --format json)",
			Query: []string{"month"}, Handler: s.cost},
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
	bill, err := s.cfg.Cost.Bill(c.UserContext(), month)
	if err != nil {
		return err
	}
	return c.JSON(bill)
}
