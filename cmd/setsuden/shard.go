package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
)

// siteRole is what one collector process runs of its site. A site split
// with `run --shard i/n` has n processes, each polling the sources its
// shard owns; exactly one of them runs the site-wide controllers.
type siteRole struct {
	Shard collector.Shard
	// Controllers is set in the one process of the site that runs the
	// site-wide controllers: demand control, SLA accounting (with the SLA
	// probes) and the shedding executor. Anything that acts on the whole
	// site checks it, so that it acts from exactly one process.
	Controllers bool
}

// unsharded is the role of a process that is the whole site.
func unsharded() siteRole { return siteRole{Shard: collector.Shard{Count: 1}, Controllers: true} }

// defaultRole runs the controllers in shard 1.
func defaultRole(s collector.Shard) siteRole { return siteRole{Shard: s, Controllers: s.Index == 0} }

// parseSiteRole reads --shard and --site-controllers: "" (shard 1 runs
// the controllers), or true/false.
func parseSiteRole(shard, controllers string) (siteRole, error) {
	s, err := collector.ParseShard(shard)
	if err != nil {
		return siteRole{}, err
	}
	r := defaultRole(s)
	if controllers != "" {
		on, err := strconv.ParseBool(controllers)
		if err != nil {
			return siteRole{}, fmt.Errorf("site-controllers %q: expected true or false (default: true in shard 1 only)", controllers)
		}
		r.Controllers = on
	}
	return r, nil
}

func (r siteRole) String() string { return fmt.Sprintf("%d/%d", r.Shard.Index+1, r.Shard.Count) }

// sourceCounts are the configured sources and those this shard polls.
func (r siteRole) sourceCounts(cfg *config.Config) (owned, total int) {
	var names []string
	for _, d := range cfg.Modbus.Devices {
		names = append(names, d.Name)
	}
	for _, g := range cfg.Obix.Gateways {
		names = append(names, g.Name)
	}
	for _, h := range cfg.Libvirt.Hosts {
		names = append(names, h.Name)
	}
	for _, n := range names {
		if r.Shard.Owns(n) {
			owned++
		}
	}
	return owned, len(names)
}

// controllers lists the site-wide controllers the pipeline runs.
func (p *pipeline) controllers() []string {
	var out []string
	if p.role.Controllers && p.cfg.Demand.Enabled() {
		out = append(out, "demand")
	}
	if p.sla != nil {
		out = append(out, "sla")
	}
	if p.shed != nil {
		out = append(out, "shed")
	}
	return out
}

// logRole says at start what this process runs: its shard, how many
// sources it owns, and which site-wide controllers run here.
func (p *pipeline) logRole() {
	owned, total := p.role.sourceCounts(p.cfg)
	ctl := p.controllers()
	here := strings.Join(ctl, ",")
	if !p.role.Controllers {
		here = "none (another process runs them)"
	} else if here == "" {
		here = "none configured"
	}
	p.log.Info("site role", "shard", p.role.String(), "sources_owned", owned, "sources_total", total,
		"site_controllers", p.role.Controllers, "controllers_here", here)
}

// peerMeasurements are the points of other shards the SLA engine reads.
var peerMeasurements = []string{"host", "vm", "vm_event", "collector_errors"}

// peerFeed hands the SLA engine of a sharded site what the other shards'
// libvirt hosts reported: it reads their host, vm, vm_event and libvirt
// collector_errors points back from InfluxDB every tick, a little behind
// the writers (lag), and observes each poll (points of one time) as the
// tap would have. Points of this shard's own hosts came through the tap
// and are skipped.
type peerFeed struct {
	site    string
	read    func(ctx context.Context, site string, measurements []string, since time.Time) ([]point.Point, error)
	observe func([]point.Point)
	owns    func(name string) bool
	every   time.Duration
	lag     time.Duration
	log     *slog.Logger

	since time.Time
	fed   map[string]time.Time // key of a point fed -> its time, since `since`
}

func (f *peerFeed) run(ctx context.Context) {
	// From now on: what came before is history, which the engine's state
	// at start covers (an older observation would be moved to its start
	// and overwrite the "started" change there).
	f.since = time.Now()
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f.once(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("SLA: reading the other shards' libvirt points failed; retrying", "err", err)
		}
	}
}

// once reads and observes the points since the last read.
func (f *peerFeed) once(ctx context.Context) error {
	pts, err := f.read(ctx, f.site, peerMeasurements, f.since)
	if err != nil {
		return err
	}
	if f.fed == nil {
		f.fed = map[string]time.Time{}
	}
	var batch []point.Point
	flush := func() {
		if len(batch) > 0 {
			f.observe(batch)
			batch = nil
		}
	}
	newest := f.since
	for _, pt := range pts {
		src := pt.Tags["host"]
		if pt.Measurement == "collector_errors" {
			if pt.Tags["kind"] != "libvirt" {
				continue
			}
			src = pt.Tags["source"]
		}
		if src == "" || f.owns(src) {
			continue
		}
		key := pt.Measurement + "\x00" + src + "\x00" + pt.Tags["vm"] + "\x00" + pt.Time.String()
		if _, done := f.fed[key]; done {
			continue
		}
		f.fed[key] = pt.Time
		if len(batch) > 0 && !batch[0].Time.Equal(pt.Time) {
			flush()
		}
		batch = append(batch, pt)
		if pt.Time.After(newest) {
			newest = pt.Time
		}
	}
	flush()
	// Read again from a little before the newest point: a writer may still
	// hold points older than it.
	if s := newest.Add(-f.lag); s.After(f.since) {
		f.since = s
	}
	for k, at := range f.fed {
		if at.Before(f.since) {
			delete(f.fed, k)
		}
	}
	return nil
}

// addPeerFeed adds the peer feed to a sharded site's SLA engine.
func (p *pipeline) addPeerFeed(w *slaWiring) {
	if w == nil || p.role.Shard.Count <= 1 {
		return
	}
	f := &peerFeed{site: p.cfg.Site.Name, read: p.reader.PointsSince, observe: w.ctl.Observe, owns: p.role.Shard.Owns,
		every: time.Second, lag: 2*p.cfg.Influx.FlushInterval + 5*time.Second, log: p.log}
	p.runners = append(p.runners, f.run)
}
