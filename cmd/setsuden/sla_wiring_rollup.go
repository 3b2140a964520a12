package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

// probeRollupJob keeps the daily probe summaries that monthly reports read
// instead of every probe sample (report.Rollup, docs/schema.md
// probe_daily): every day, sla.report_schedule.grace (plus a minute) after
// midnight in the site's time zone, and once at start-up, it rolls up
// each finished day of the current and the previous month that has none.
// A day counts as finished grace after its end, the time the report
// schedule already allows for late data.
type probeRollupJob struct {
	rollup report.Rollup
	store  report.RollupStore
	grace  time.Duration
	log    *slog.Logger
	now    func() time.Time
	busy   sync.Mutex // one catch-up at a time (start-up and daily may meet)
}

// catchUp rolls up the missing days (usually yesterday alone).
func (j *probeRollupJob) catchUp(ctx context.Context) error {
	loc := j.rollup.Location
	now := j.now().In(loc)
	from := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, loc)
	lim := now.Add(-j.grace)
	to := time.Date(lim.Year(), lim.Month(), lim.Day(), 0, 0, 0, 0, loc)
	if !to.After(from) {
		return nil
	}
	days, err := j.rollup.Missing(ctx, j.store, from, to)
	if err != nil || len(days) == 0 {
		return err
	}
	j.log.Info("rolling up daily probe summaries", "days", len(days),
		"from", days[0].Start.Format("2006-01-02"), "to", days[len(days)-1].Start.Format("2006-01-02"))
	t0 := time.Now()
	last := t0
	err = j.rollup.Run(ctx, j.store, days, func(done, total int, day sla.Interval, st sla.RollupStats) {
		j.log.Debug("probe summaries written", "day", day.Start.Format("2006-01-02"), "services", st.Services,
			"summaries", st.Summaries, "samples", st.Samples)
		if total > 1 && (done == total || time.Since(last) >= 10*time.Second) {
			last = time.Now()
			j.log.Info("probe rollup progress", "done", done, "days", total, "elapsed", time.Since(t0).Round(time.Second))
		}
	})
	if err != nil {
		return err
	}
	j.log.Info("daily probe summaries rolled up", "days", len(days), "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// catchUpNow is catchUp for the monthly report (slactl BeforeIssue): it
// waits for a run in progress instead of skipping, so the report finds
// the month's days rolled up.
func (j *probeRollupJob) catchUpNow(ctx context.Context) error {
	j.busy.Lock()
	defer j.busy.Unlock()
	return j.catchUp(ctx)
}

// run schedules catchUp until ctx ends.
func (j *probeRollupJob) run(ctx context.Context) error {
	s, err := gocron.NewScheduler(gocron.WithLocation(j.rollup.Location))
	if err != nil {
		return fmt.Errorf("probe rollup scheduler: %w", err)
	}
	task := gocron.NewTask(func() {
		if !j.busy.TryLock() {
			return // the other run is at it
		}
		defer j.busy.Unlock()
		if err := j.catchUp(ctx); err != nil && ctx.Err() == nil {
			j.log.Error("daily probe summaries not rolled up; reports read those days' samples until a later run succeeds", "err", err)
		}
	})
	at := (j.grace + time.Minute) % (24 * time.Hour)
	for _, def := range []gocron.JobDefinition{
		gocron.DailyJob(1, gocron.NewAtTimes(gocron.NewAtTime(uint(at/time.Hour), uint(at%time.Hour/time.Minute), 0))),
		gocron.OneTimeJob(gocron.OneTimeJobStartImmediately()),
	} {
		if _, err := s.NewJob(def, task, gocron.WithName("sla probe rollup"), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
			_ = s.Shutdown()
			return fmt.Errorf("probe rollup job: %w", err)
		}
	}
	s.Start()
	<-ctx.Done()
	if err := s.Shutdown(); err != nil {
		return fmt.Errorf("probe rollup scheduler shutdown: %w", err)
	}
	return nil
}
