package simulate

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// meterLog is the simulated site meter as the demand controller's Store
// sees it: one sample per simulated step, the step's power, stamped at the
// window's middle (as adapters/influx's SitePower stamps its windows).
type meterLog struct {
	start time.Time
	step  time.Duration
	kw    []float64
}

// SitePower implements demandctl.Store: the complete windows in [from, to).
func (m *meterLog) SitePower(_ context.Context, _ string, from, to time.Time, every time.Duration) ([]demand.Sample, error) {
	var out []demand.Sample
	for i := max(0, int(from.Sub(m.start)/m.step)); i < len(m.kw); i++ {
		a := m.start.Add(time.Duration(i) * m.step)
		if a.Before(from) {
			continue
		}
		if a.Add(m.step).After(to) {
			break
		}
		out = append(out, demand.Sample{Time: a.Add(m.step / 2), KW: m.kw[i]})
	}
	return out, nil
}

// SiteEnergy implements demandctl.Store: no energy registers, so the
// engine integrates power.
func (m *meterLog) SiteEnergy(context.Context, string, time.Time, time.Time, time.Duration) ([]demand.EnergySample, error) {
	return nil, nil
}

type discardPoints struct{}

func (discardPoints) Write(context.Context, []point.Point) error { return nil }

// newController is the real demand controller (rules/demandctl) on a
// simulated clock, reading the simulated meter, ticking once per step.
// The external targets among cfg.Limits are returned for the caller to
// post (SetExternalTarget) ahead of each event.
func newController(sc Scenario, cfg demand.Config, meter *meterLog, start time.Time) (*demandctl.Controller, *clockwork.FakeClock, []demand.ExternalTarget, error) {
	clock := clockwork.NewFakeClockAt(start)
	var limits []demandctl.LimitSpec
	var targets []demand.ExternalTarget
	for _, l := range cfg.Limits {
		if e, ok := l.(demand.ExternalTarget); ok {
			targets = append(targets, e)
			continue
		}
		limits = append(limits, demandctl.LimitSpec{Limit: l})
	}
	c, err := demandctl.New(demandctl.Config{Site: sc.Name, Engine: cfg, Limits: limits, Tick: sc.Step,
		Store: meter, Points: discardPoints{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock})
	sort.Slice(targets, func(i, j int) bool { return targets[i].From.Before(targets[j].From) })
	return c, clock, targets, err
}
