package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
)

// ensureInfluxDatabase creates a missing InfluxDB 1.8 database at start
// (influx.EnsureDatabase), or says once, naming the database and the
// statements, what an administrator must run: without it the points wait
// in the queue with "database not found". It does not hold up the start:
// while InfluxDB does not answer it asks again, backing off to 30 s.
func ensureInfluxDatabase(ctx context.Context, cfg config.Influx, log *slog.Logger) {
	if cfg.Org != "" {
		return // InfluxDB 2.x: a bucket, made by its admin
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		created, err := influx.EnsureDatabase(ctx, client, cfg.URL, cfg.Token, cfg.Bucket)
		var missing *influx.MissingDatabaseError
		switch {
		case err == nil && created:
			log.Info("created the InfluxDB database, which did not exist", "database", influx.DatabaseOf(cfg.Bucket))
			return
		case err == nil:
			return
		case errors.As(err, &missing):
			log.Error("InfluxDB database does not exist and cannot be created with these credentials; points wait in the queue until it exists",
				"database", missing.Database, "user", missing.User, "influxdb_said", missing.Reason,
				"run_as_admin", "influx -execute '"+missing.Commands()+"'")
			return
		}
		log.Debug("cannot check the InfluxDB database yet", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
