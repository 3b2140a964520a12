package slactl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// AlertEventName is the webhook event of an alert that starts or stops
// firing.
const AlertEventName = "sla.alert"

// AlertEvent is the webhook body of an alert that starts or stops firing.
type AlertEvent struct {
	Site string `json:"site"`
	// Status is "firing" or "resolved".
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
	Rule     string    `json:"rule"`
	Service  string    `json:"service"`
	Customer string    `json:"customer,omitempty"`
	SLA      string    `json:"sla"`
	Severity string    `json:"severity"`
	// ActiveSince is when the condition began to hold.
	ActiveSince time.Time `json:"active_since,omitzero"`
	// Burn rates over the rule's long and short windows and the factor
	// both must reach (burn-rate rules only).
	LongBurn  float64 `json:"long_burn,omitempty"`
	ShortBurn float64 `json:"short_burn,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
}

// EvaluateAlerts evaluates every service's burn-rate rules (the SRE
// workbook's windows for a 30-day objective) and the data-absent rule at
// the tracker's horizon, on the settled timeline of the longest window,
// and logs and posts each alert that starts or stops firing. It returns
// the alerts that are pending or firing.
func (c *Controller) EvaluateAlerts(ctx context.Context) []sla.Alert {
	c.mu.Lock()
	at := c.tracker.Horizon()
	from := at.Add(-c.lookback)
	history := make(map[string][]sla.StateChange, len(c.history))
	for svc, cs := range c.history {
		cs = trimHistory(cs, from)
		c.history[svc] = cs
		history[svc] = append([]sla.StateChange(nil), cs...)
	}
	prev := c.alerts
	c.mu.Unlock()

	windows, err := c.cfg.Maintenance.Windows(ctx, from, at)
	if err != nil {
		c.log.Warn("maintenance log unreadable; alerts are evaluated without it", "err", err)
	}
	next := make(map[string][]sla.Alert, len(c.services))
	var active []sla.Alert
	for _, svc := range c.services {
		agreement := c.slas[svc.Name]
		tl, err := sla.BuildTimeline(sla.TimelineInput{Service: svc, SLA: agreement, Location: c.locs[agreement.TimeZone],
			Policy: c.cfg.SLA.Policy, Changes: history[svc.Name], Maintenance: windows, From: from, To: at})
		if err != nil {
			c.log.Error("alert timeline", "service", svc.Name, "err", err)
			next[svc.Name] = prev[svc.Name]
			continue
		}
		old := prev[svc.Name]
		var absentPrev sla.Alert
		for _, a := range old {
			if a.Rule == c.absent.Name {
				absentPrev = a
			}
		}
		alerts := append(sla.EvalBurnRates(c.burn, svc.Name, tl, agreement.Objective, at, old),
			c.absent.Eval(svc.Name, tl, at, absentPrev))
		next[svc.Name] = alerts
		for _, a := range alerts {
			var was sla.Alert
			for _, o := range old {
				if o.Rule == a.Rule {
					was = o
				}
			}
			switch {
			case a.State == sla.Firing && was.State != sla.Firing:
				c.notify(svc, a, "firing", at)
			case a.State != sla.Firing && was.State == sla.Firing:
				c.notify(svc, was, "resolved", at)
			}
			if a.State != sla.Inactive {
				active = append(active, a)
			}
		}
	}
	c.mu.Lock()
	c.alerts = next
	c.mu.Unlock()
	c.saveAlerts(next)
	sort.Slice(active, func(i, j int) bool {
		if active[i].Service != active[j].Service {
			return active[i].Service < active[j].Service
		}
		return active[i].Rule < active[j].Rule
	})
	return active
}

// trimHistory drops the changes before from except the last one, which
// gives the state at from.
func trimHistory(cs []sla.StateChange, from time.Time) []sla.StateChange {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].At.Before(cs[j].At) })
	k := sort.Search(len(cs), func(i int) bool { return !cs[i].At.Before(from) })
	if k > 1 {
		cs = append(cs[:0], cs[k-1:]...)
	}
	return cs
}

func (c *Controller) notify(svc sla.Service, a sla.Alert, status string, at time.Time) {
	attrs := []any{"rule", a.Rule, "service", svc.Name, "severity", a.Severity, "since", a.ActiveSince.Format(time.RFC3339)}
	if a.Threshold > 0 {
		attrs = append(attrs, "long_burn", round2(a.LongBurn), "short_burn", round2(a.ShortBurn), "threshold", round2(a.Threshold))
	}
	if status == "firing" {
		c.log.Warn("SLA alert firing", attrs...)
	} else {
		c.log.Info("SLA alert resolved", attrs...)
	}
	if c.cfg.Notifier == nil {
		return
	}
	body, err := json.Marshal(AlertEvent{Site: c.cfg.Site, Status: status, At: at, Rule: a.Rule, Service: svc.Name,
		Customer: svc.Customer, SLA: svc.SLA, Severity: a.Severity, ActiveSince: a.ActiveSince,
		LongBurn: a.LongBurn, ShortBurn: a.ShortBurn, Threshold: a.Threshold})
	if err != nil {
		c.log.Error("SLA alert webhook payload", "err", err)
		return
	}
	c.cfg.Notifier.Send(AlertEventName, body)
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

// loadAlerts reads the alerts of the last evaluation before a restart. A
// missing file is a first start; an unreadable one is logged and the
// alerts start afresh.
func (c *Controller) loadAlerts() {
	b, err := os.ReadFile(c.alertsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var saved map[string][]sla.Alert
	if err == nil {
		err = json.Unmarshal(b, &saved)
	}
	if err != nil {
		c.log.Warn("SLA alert state unreadable; alerts start afresh", "file", c.alertsFile, "err", err)
		return
	}
	c.alerts, c.alertsSaved = saved, b
	c.log.Info("SLA alert state restored", "file", c.alertsFile, "services", len(saved))
}

// saveAlerts writes the evaluation when it changed (write, sync, rename:
// a crash leaves the old file or the new one).
func (c *Controller) saveAlerts(alerts map[string][]sla.Alert) {
	if c.alertsFile == "" {
		return
	}
	b, err := json.Marshal(alerts)
	if err != nil || bytes.Equal(b, c.alertsSaved) {
		return
	}
	tmp := c.alertsFile + ".tmp"
	err = writeFileSync(tmp, b)
	if err == nil {
		err = os.Rename(tmp, c.alertsFile)
	}
	if err != nil {
		c.log.Error("SLA alert state not saved; a restart may post firing alerts again", "file", c.alertsFile, "err", err)
		return
	}
	c.alertsSaved = b
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
