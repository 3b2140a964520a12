package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/server"
	"github.com/setsuden/setsuden/web"
)

// newServer builds the console and API over the pipeline's controllers.
func newServer(p *pipeline) (*server.Server, error) {
	cfg := p.cfg
	auth, err := server.NewAuthenticator(authConfig(cfg.Server))
	if err != nil {
		return nil, fmt.Errorf("server.users: %w", err)
	}
	loc, err := time.LoadLocation(cfg.Site.Timezone)
	if err != nil {
		return nil, fmt.Errorf("site.timezone: %w", err)
	}
	sc := server.Config{
		Site: cfg.Site.Name, Version: version, Location: loc, Locale: siteLocale(cfg), Live: p.live, Gatherer: p.reg,
		MetricsPublic: cfg.Server.MetricsPublic, Static: web.Assets(), Logger: p.log, Auth: auth,
		TLSCertFile: cfg.Server.TLS.CertFile, TLSKeyFile: cfg.Server.TLS.KeyFile, SessionTTL: cfg.Server.SessionTTL,
		Series: seriesReader{r: p.reader},
		Audit: func(ctx context.Context, e server.AuditEntry) {
			tags := map[string]string{"site": cfg.Site.Name, "user": e.User}
			fields := map[string]any{"action": e.Action, "path": e.Path, "status": strconv.Itoa(e.Status), "remote": e.Remote, "role": string(e.Role)}
			for k, v := range e.Changes {
				fields["changed_"+k] = fmt.Sprint(v)
			}
			_ = p.writer.Write(ctx, []point.Point{{Measurement: "audit", Tags: tags, Fields: fields, Time: e.Time}})
		},
		Health: func(ctx context.Context) error {
			return p.writer.Degraded() // InfluxDB failing, queue disk refusing writes, drops, backlog
		},
	}
	// One process per site keeps the hourly rollups of the charted fields.
	if p.shard.Index == 0 {
		ru := newSeriesRollup(p.reader, p.writer, cfg.Site.Name, p.log, p.reg)
		sc.Series = seriesReader{r: p.reader, rollup: ru}
		p.runners = append(p.runners, ru.run)
	}
	// Typed nils must stay untyped: a missing controller answers 503.
	if p.demandAPI != nil {
		sc.Demand = p.demandAPI
	}
	if p.slaAPI != nil {
		sc.SLA = p.slaAPI
	}
	if p.executor != nil {
		p.plansAPI = executorPlans{p.executor}
	}
	if p.plansAPI != nil {
		sc.Plans = p.plansAPI
	}
	if cost, err := newCostAPI(cfg, p.reader, loc); err != nil {
		return nil, err
	} else if cost != nil {
		sc.Cost = cost
	}
	users, err := openUserStore(cfg)
	if err != nil {
		return nil, err
	}
	if users != nil {
		sc.Users = users
	}
	srv := server.New(sc)
	if err := srv.LoadUsers(context.Background()); err != nil {
		return nil, err
	}
	return srv, nil
}

// authConfig turns server.users, server.operators (role operator) and
// server.tokens into the authenticator's lists.
func authConfig(s config.Server) server.AuthConfig {
	var ac server.AuthConfig
	for _, op := range s.Operators {
		ac.Users = append(ac.Users, server.User{Name: op.Name, Role: server.RoleOperator, PasswordHash: op.PasswordHash})
	}
	for _, u := range s.Users {
		ac.Users = append(ac.Users, server.User{Name: u.Name, Role: server.Role(u.Role), PasswordHash: u.PasswordHash, Customer: u.Customer})
	}
	for _, t := range s.Tokens {
		ac.Tokens = append(ac.Tokens, server.Token{Name: t.Name, Role: server.Role(t.Role), SHA256: t.SHA256, Customer: t.Customer})
	}
	return ac
}

// siteLocale is server.locale, or ja for a site in Japan's time zone.
func siteLocale(cfg *config.Config) string {
	if cfg.Server.Locale != "" {
		return cfg.Server.Locale
	}
	if cfg.Site.Timezone == "Asia/Tokyo" {
		return "ja"
	}
	return "en"
}
