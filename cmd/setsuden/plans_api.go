package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/setsuden/setsuden/rules/executor"
	"github.com/setsuden/setsuden/server"
)

// executorPlans is the running daemon's shedding executor as the server's
// PlanController: the console and the API list its plans, approve and
// cancel them and set its mode through it (every call audited by both the
// server and the executor's own store).
type executorPlans struct{ e *executor.Executor }

func (x executorPlans) Plans(_ context.Context, status string, limit int) ([]server.Plan, error) {
	var out []server.Plan
	for _, p := range x.e.List() {
		sp := apiPlan(p, x.e.Mode())
		if status != "" && sp.Status != status {
			continue
		}
		out = append(out, sp)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (x executorPlans) Plan(_ context.Context, id string) (server.Plan, error) {
	p := x.e.Get(id)
	if p == nil {
		return server.Plan{}, fmt.Errorf("plan %s: %w", id, server.ErrNotFound)
	}
	return apiPlan(p, x.e.Mode()), nil
}

func (x executorPlans) Approve(ctx context.Context, id, by string) (server.Plan, error) {
	if err := x.e.Approve(ctx, id, by); err != nil {
		return server.Plan{}, planError(err)
	}
	return x.Plan(ctx, id)
}

func (x executorPlans) Cancel(ctx context.Context, id, by, reason string) (server.Plan, error) {
	if err := x.e.Cancel(ctx, id, by); err != nil {
		return server.Plan{}, planError(err)
	}
	if reason != "" {
		x.e.Note(ctx, id, "operator:"+by, "cancel_reason", reason)
	}
	return x.Plan(ctx, id)
}

func (x executorPlans) Mode() string { return string(x.e.Mode()) }

func (x executorPlans) SetMode(ctx context.Context, mode, by string) error {
	return x.e.SetMode(ctx, executor.Mode(mode), by)
}

// planError maps the executor's refusals to the API's 404 and 409.
func planError(err error) error {
	switch msg := err.Error(); {
	case strings.Contains(msg, "not found"):
		return fmt.Errorf("%v: %w", err, server.ErrNotFound)
	case strings.Contains(msg, "only an awaiting"), strings.Contains(msg, "already"), strings.Contains(msg, "executor mode is"):
		return fmt.Errorf("%v: %w", err, server.ErrConflict)
	}
	return err
}

// apiStatus is the API's word for a plan state.
func apiStatus(s executor.PlanState) string {
	switch s {
	case executor.PlanAdvised:
		return "proposed"
	case executor.PlanAwaiting, executor.PlanInterrupted:
		return "waiting"
	}
	return string(s)
}

func apiPlan(p *executor.Plan, mode executor.Mode) server.Plan {
	sp := server.Plan{ID: p.ID, Status: apiStatus(p.State), Mode: string(mode), CreatedAt: p.CreatedAt,
		Reason: p.Reason, ExpectedKW: p.PredictedKW, MeasuredKW: p.MeasuredKW}
	for i, s := range p.Steps {
		sp.Steps = append(sp.Steps, server.PlanStep{N: i + 1, Action: string(s.Kind), VM: s.VM, From: s.From, To: s.To,
			Host: s.Host, ExpectedKW: s.ExpectedSavingKW, Status: string(s.State), StartedAt: s.StartedAt, EndedAt: s.EndedAt, Error: s.Reason})
	}
	return sp
}
