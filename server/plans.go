package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// PlanController is what the server needs of the shedding executor: it
// owns plan state and carries plans out; the server lists them and submits
// the operator's decisions. The lead wires the executor to it.
type PlanController interface {
	// Plans lists plans, newest first; status "" is every status.
	Plans(ctx context.Context, status string, limit int) ([]Plan, error)
	// Plan is one plan with its steps; ErrNotFound when there is none.
	Plan(ctx context.Context, id string) (Plan, error)
	// Approve starts a plan waiting for approval (mode approve); by is the
	// operator. ErrNotFound, or ErrConflict when it is not waiting.
	Approve(ctx context.Context, id, by string) (Plan, error)
	// Cancel stops a plan that is waiting or running (a running one is
	// aborted and restored); ErrConflict when it has ended.
	Cancel(ctx context.Context, id, by, reason string) (Plan, error)
	// Mode is advise (plans are only shown), approve (an operator starts
	// each) or auto.
	Mode() string
	SetMode(ctx context.Context, mode, by string) error
}

// Errors a PlanController returns for the API to map to 404 and 409.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Plan is a shedding plan as the API shows it.
type Plan struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"` // proposed, waiting, running, done, failed, cancelled
	Mode       string     `json:"mode"`
	CreatedAt  time.Time  `json:"created_at"`
	Reason     string     `json:"reason"`
	TargetKW   float64    `json:"target_kw"`
	ExpectedKW float64    `json:"expected_kw"`
	MeasuredKW *float64   `json:"measured_kw,omitempty"`
	ApprovedBy string     `json:"approved_by,omitempty"`
	Steps      []PlanStep `json:"steps"`
}

// PlanStep is one action of a plan.
type PlanStep struct {
	N          int        `json:"n"`
	Action     string     `json:"action"` // migrate, power_off, power_on, ...
	VM         string     `json:"vm,omitempty"`
	From       string     `json:"from,omitempty"`
	To         string     `json:"to,omitempty"`
	Host       string     `json:"host,omitempty"`
	ExpectedKW float64    `json:"expected_kw"`
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// PlanModes are the executor's modes.
var PlanModes = []string{"advise", "approve", "auto"}

func (s *Server) planRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/plans", Need: RoleViewer, Tag: "plans", Summary: "shedding plans, newest first", Query: []string{"status", "limit"}, Handler: s.plans},
		{Method: "GET", Path: "/api/v1/plans/:id", Need: RoleViewer, Tag: "plans", Summary: "a plan and its steps", Handler: s.plan},
		{Method: "POST", Path: "/api/v1/plans/:id/approve", Need: RoleOperator, Tag: "plans", Summary: "approve a waiting plan (mode approve)", Handler: s.approvePlan},
		{Method: "POST", Path: "/api/v1/plans/:id/cancel", Need: RoleOperator, Tag: "plans", Summary: "cancel a waiting or running plan (running: abort and restore)",
			Body: `{"reason": "customer batch job"}`, Handler: s.cancelPlan},
		{Method: "GET", Path: "/api/v1/shed/mode", Need: RoleViewer, Tag: "plans", Summary: "the executor's mode: advise, approve or auto", Handler: s.planMode},
		{Method: "PUT", Path: "/api/v1/shed/mode", Need: RoleAdmin, Tag: "plans", Summary: "set the executor's mode", Body: `{"mode": "approve"}`, Handler: s.setPlanMode},
	}
}

func (s *Server) planController() (PlanController, error) {
	if s.cfg.Plans == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "the shedding executor is not configured (shed: section)")
	}
	return s.cfg.Plans, nil
}

func planError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "id: "+err.Error())
	case errors.Is(err, ErrConflict):
		return fiber.NewError(fiber.StatusConflict, err.Error())
	}
	return err
}

func (s *Server) plans(c *fiber.Ctx) error {
	pc, err := s.planController()
	if err != nil {
		return err
	}
	status := c.Query("status")
	if status != "" && !validName(status) {
		return badRequest(c, FieldProblem{Field: "status", Msg: "not a plan status (expected e.g. waiting, running, done)"})
	}
	limit := c.QueryInt("limit", 50)
	if limit < 1 || limit > 500 {
		return badRequest(c, FieldProblem{Field: "limit", Msg: "out of range (expected 1 to 500)"})
	}
	ps, err := pc.Plans(c.UserContext(), status, limit)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []Plan{}
	}
	return c.JSON(fiber.Map{"mode": pc.Mode(), "plans": ps})
}

func planID(c *fiber.Ctx) (string, error) {
	id := c.Params("id")
	if !validName(id) {
		return "", errBadField{FieldProblem{Field: "id", Msg: "not a plan id (expected up to 64 letters, digits, _ . -)"}}
	}
	return id, nil
}

func (s *Server) plan(c *fiber.Ctx) error {
	pc, err := s.planController()
	if err != nil {
		return err
	}
	id, err := planID(c)
	if err != nil {
		return err
	}
	p, err := pc.Plan(c.UserContext(), id)
	if err != nil {
		return planError(err)
	}
	return c.JSON(p)
}

func (s *Server) approvePlan(c *fiber.Ctx) error {
	pc, err := s.planController()
	if err != nil {
		return err
	}
	id, err := planID(c)
	if err != nil {
		return err
	}
	changed(c, "plan", id)
	p, err := pc.Approve(c.UserContext(), id, principalOf(c).Name)
	if err != nil {
		return planError(err)
	}
	changed(c, "expected_kw", p.ExpectedKW)
	changed(c, "steps", len(p.Steps))
	return c.JSON(p)
}

func (s *Server) cancelPlan(c *fiber.Ctx) error {
	pc, err := s.planController()
	if err != nil {
		return err
	}
	id, err := planID(c)
	if err != nil {
		return err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if p := decodeStrict(c.Body(), &body, `{"reason": "..."}`); p != nil {
		return badRequest(c, *p)
	}
	var probs problems
	reason := strings.TrimSpace(body.Reason)
	if reason == "" {
		probs.add("reason", "missing (expected why the plan is cancelled)")
	}
	checkText(&probs, "reason", reason)
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	changed(c, "plan", id)
	changed(c, "reason", reason)
	p, err := pc.Cancel(c.UserContext(), id, principalOf(c).Name, reason)
	if err != nil {
		return planError(err)
	}
	return c.JSON(p)
}

func (s *Server) planMode(c *fiber.Ctx) error {
	pc, err := s.planController()
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"mode": pc.Mode(), "modes": PlanModes})
}

func (s *Server) setPlanMode(c *fiber.Ctx) error {
	pc, err := s.planController()
	if err != nil {
		return err
	}
	var body struct {
		Mode string `json:"mode"`
	}
	if p := decodeStrict(c.Body(), &body, `{"mode": "advise|approve|auto"}`); p != nil {
		return badRequest(c, *p)
	}
	ok := false
	for _, m := range PlanModes {
		ok = ok || m == body.Mode
	}
	if !ok {
		return badRequest(c, FieldProblem{Field: "mode", Msg: "expected advise, approve or auto"})
	}
	changed(c, "from", pc.Mode())
	changed(c, "mode", body.Mode)
	if err := pc.SetMode(c.UserContext(), body.Mode, principalOf(c).Name); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"mode": pc.Mode()})
}
