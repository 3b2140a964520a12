package demandctl

import (
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// Status is the latest decision as the API shows it, with the external
// targets and the caps from history; false before the first tick.
func (c *Controller) Status() (DecisionView, bool) {
	d, ok := c.latestIfAny()
	if !ok {
		return DecisionView{}, false
	}
	v := NewDecisionView(c.cfg.Site, d)
	for _, t := range c.ExternalTargets() {
		v.ExternalTargets = append(v.ExternalTargets, targetView(t))
	}
	for _, s := range c.CapStatuses() {
		v.Caps = append(v.Caps, capStatusView(s))
	}
	return v, true
}

// Now is the controller's clock (a fake one in tests).
func (c *Controller) Now() time.Time { return c.clock.Now() }

// NewTargetView renders an external target.
func NewTargetView(t demand.ExternalTarget) TargetView { return targetView(t) }
