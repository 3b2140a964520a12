package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

func (s *Server) alarmRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/alarms", Need: RoleViewer, Tag: "live",
			Summary: "the open alarms: demand stage caution or above, services down, SLA burn-rate alerts pending or firing, failing or stale collectors, meters and hosts, failed plans (the overview's box and the stream's alarms event)",
			Handler: s.alarms},
	}
}

// Alarm is one open alarm. Kind and Params let the console word it in
// its language; Message is the English wording.
type Alarm struct {
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"` // critical or warning
	Source   string            `json:"source"`   // demand, sla:web, collector:pdu-a, meter:m1, host:h1, plan:p1
	Since    time.Time         `json:"since,omitzero"`
	Message  string            `json:"message"`
	Params   map[string]string `json:"params,omitempty"`
}

// AlarmInputs is the state the alarms are read from; a nil part is a rule
// that does not run in this process.
type AlarmInputs struct {
	Demand      *demandctl.DecisionView
	Services    []slactl.ServiceState
	Live        *Snapshot
	FailedPlans []Plan
}

// failedPlanAge: a failed plan stays an alarm for a day (the plan page
// keeps its history).
const failedPlanAge = 24 * time.Hour

// BuildAlarms is the list of open alarms, critical first, newest first.
func BuildAlarms(in AlarmInputs, now time.Time) []Alarm {
	out := []Alarm{}
	if d := in.Demand; d != nil && d.StageLevel >= 1 {
		since := d.BlockStart
		for _, tr := range d.Transitions {
			if tr.To == d.Stage && tr.At.After(since) {
				since = tr.At
			}
		}
		sev := "warning"
		if d.StageLevel >= 2 {
			sev = "critical"
		}
		a := Alarm{Kind: "demand_stage", Severity: sev, Source: "demand", Since: since,
			Params: map[string]string{"stage": d.Stage, "predicted_kw": fmt.Sprintf("%.1f", d.PredictedKW), "limit_kw": fmt.Sprintf("%.1f", d.LimitKW)}}
		a.Message = fmt.Sprintf("demand stage %s: predicted %.1f kW against %.1f kW", d.Stage, d.PredictedKW, d.LimitKW)
		if d.Request != nil {
			a.Params["shed_kw"] = fmt.Sprintf("%.1f", d.Request.ShedKW)
			a.Message += fmt.Sprintf(", shed %.1f kW", d.Request.ShedKW)
		}
		out = append(out, a)
	}
	for _, st := range in.Services {
		if st.State != sla.StateUp && st.State != sla.StateUnknown {
			sev := "critical"
			if st.Severity == sla.SeverityInfo || st.Severity == sla.SeverityWarning {
				sev = "warning"
			}
			out = append(out, Alarm{Kind: "service_down", Severity: sev, Source: "sla:" + st.Service, Since: st.Since,
				Message: fmt.Sprintf("service %s is %s (%s)", st.Service, st.State, st.Cause),
				Params:  map[string]string{"service": st.Service, "state": st.State.String(), "cause": st.Cause}})
		}
		for _, al := range st.Alerts {
			if al.State == sla.Inactive {
				continue
			}
			sev := "warning"
			if al.State == sla.Firing && isPaging(al.Severity) {
				sev = "critical"
			}
			state := strings.ToLower(fmt.Sprint(al.State))
			out = append(out, Alarm{Kind: "sla_alert", Severity: sev, Source: "sla:" + st.Service, Since: al.ActiveSince,
				Message: fmt.Sprintf("%s: burn-rate alert %s %s (burn %.1f over the long window, %.1f over the short, threshold %.1f)", st.Service, al.Rule, state, al.LongBurn, al.ShortBurn, al.Threshold),
				Params:  map[string]string{"service": st.Service, "rule": al.Rule, "state": state, "burn": fmt.Sprintf("%.1f", al.LongBurn)}})
		}
	}
	if snap := in.Live; snap != nil {
		for _, src := range snap.Sources {
			switch {
			case src.Failed:
				since := src.LastOK
				if since.IsZero() {
					since = src.LastErrorAt
				}
				out = append(out, Alarm{Kind: "source_failed", Severity: "warning", Source: "collector:" + src.Name, Since: since,
					Message: fmt.Sprintf("collector %s failing (%d times): %s", src.Name, src.ConsecutiveFailures, src.LastError),
					Params:  map[string]string{"name": src.Name, "error": src.LastError, "failures": fmt.Sprint(src.ConsecutiveFailures)}})
			case !src.Up && src.StaleAfter > 0:
				out = append(out, Alarm{Kind: "source_stale", Severity: "warning", Source: "collector:" + src.Name, Since: src.LastOK,
					Message: fmt.Sprintf("collector %s has not answered within %s", src.Name, src.StaleAfter),
					Params:  map[string]string{"name": src.Name}})
			}
		}
		for _, m := range snap.Meters {
			if m.Stale {
				out = append(out, Alarm{Kind: "meter_stale", Severity: "warning", Source: "meter:" + m.Meter, Since: m.Time,
					Message: fmt.Sprintf("meter %s is stale", m.Meter), Params: map[string]string{"name": m.Meter}})
			}
		}
		for _, h := range snap.Hosts {
			if h.Stale {
				out = append(out, Alarm{Kind: "host_stale", Severity: "warning", Source: "host:" + h.Host, Since: h.Time,
					Message: fmt.Sprintf("host %s is stale", h.Host), Params: map[string]string{"name": h.Host}})
			}
		}
	}
	for _, p := range in.FailedPlans {
		if p.Status != "failed" {
			continue
		}
		since := p.CreatedAt
		why := ""
		for _, st := range p.Steps {
			if st.EndedAt != nil && st.EndedAt.After(since) {
				since = *st.EndedAt
			}
			if st.Error != "" && why == "" {
				why = fmt.Sprintf("step %d %s: %s", st.N, st.Action, st.Error)
			}
		}
		if now.Sub(since) > failedPlanAge {
			continue
		}
		out = append(out, Alarm{Kind: "plan_failed", Severity: "critical", Source: "plan:" + p.ID, Since: since,
			Message: fmt.Sprintf("plan %s failed: %s", p.ID, why), Params: map[string]string{"id": p.ID, "error": why}})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity == "critical"
		}
		return out[i].Since.After(out[j].Since)
	})
	return out
}

func isPaging(severity string) bool {
	switch strings.ToLower(severity) {
	case "page", "critical", "high", "disaster":
		return true
	}
	return false
}

// alarmInputs reads the rules' state and the live snapshot: refreshed if
// stale (GET /alarms), or as last built (the stream, which has just sent it).
func (s *Server) alarmInputs(ctx context.Context, refresh bool) AlarmInputs {
	var in AlarmInputs
	if s.cfg.Demand != nil {
		if v, ok := s.cfg.Demand.Status(); ok {
			in.Demand = &v
		}
	}
	if s.cfg.SLA != nil {
		in.Services, _ = s.cfg.SLA.States()
	}
	if s.cfg.Live != nil {
		var snap Snapshot
		if refresh {
			snap = s.cfg.Live.Snapshot(ctx)
		} else {
			s.cfg.Live.mu.Lock()
			snap = s.cfg.Live.snap
			s.cfg.Live.mu.Unlock()
		}
		in.Live = &snap
	}
	if s.cfg.Plans != nil {
		if ps, err := s.cfg.Plans.Plans(ctx, "failed", 20); err == nil {
			in.FailedPlans = ps
		}
	}
	return in
}

// alarmClock is the server's clock (a fake one in tests).
func (s *Server) alarmClock() time.Time { return s.cfg.Now() }

func (s *Server) alarms(c *fiber.Ctx) error {
	now := s.alarmClock()
	return c.JSON(fiber.Map{"alarms": BuildAlarms(s.alarmInputs(c.UserContext(), true), now)})
}
