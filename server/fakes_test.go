package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

const testPassword = "correct horse battery"

var testNow = time.Date(2026, 7, 1, 14, 0, 0, 0, time.FixedZone("JST", 9*3600))

// fakeDemand is a DemandController holding targets in memory.
type fakeDemand struct {
	mu      sync.Mutex
	targets []demand.ExternalTarget
}

func (f *fakeDemand) Status() (demandctl.DecisionView, bool) {
	return demandctl.DecisionView{Site: "dc1", Stage: "normal"}, true
}
func (f *fakeDemand) ExternalTargets() []demand.ExternalTarget {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]demand.ExternalTarget(nil), f.targets...)
}
func (f *fakeDemand) SetExternalTarget(t demand.ExternalTarget) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, o := range f.targets {
		if o.Source == t.Source {
			f.targets[i] = t
			return nil
		}
	}
	f.targets = append(f.targets, t)
	return nil
}
func (f *fakeDemand) ClearExternalTarget(source string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	keep := f.targets[:0]
	for _, t := range f.targets {
		if source == "" || t.Source == source {
			n++
			continue
		}
		keep = append(keep, t)
	}
	f.targets = keep
	return n
}
func (f *fakeDemand) Now() time.Time { return testNow }

// fakeSLA is an SLAController with two customers' services and reports.
// Like the real archive it finds a scope by its file-name slug, so
// "Demo_Corp" reaches "Demo Corp."'s report.
type fakeSLA struct {
	mu      sync.Mutex
	windows []slactl.MaintenanceView
	// calendar is the log of imported calendars; down: web is DOWN
	// (incidents_test.go).
	calendar *sla.MemoryMaintenanceStore
	down     bool
}

func (f *fakeSLA) Site() string   { return "dc1" }
func (f *fakeSLA) Now() time.Time { return testNow }
func (f *fakeSLA) States() ([]slactl.ServiceState, time.Time) {
	f.mu.Lock()
	web := sla.StateUp
	if f.down {
		web = sla.StateDown
	}
	f.mu.Unlock()
	return []slactl.ServiceState{
		{Service: "crm", Customer: "Globex", State: sla.StateUp},
		{Service: "web", Customer: "Demo Corp.", State: web},
	}, testNow
}

var fakeRevisions = []report.Revision{{Month: "2026-06", Scope: "Demo Corp.", Number: 1}, {Month: "2026-06", Scope: "Globex", Number: 1}, {Month: "2026-06", Scope: "all", Number: 1}}

func (f *fakeSLA) Revisions(string) ([]report.Revision, error) { return fakeRevisions, nil }
func (f *fakeSLA) Render(w io.Writer, month, scope string, number int, format string) (report.Revision, error) {
	slug := strings.NewReplacer(" ", "_", ".", "").Replace(scope)
	for _, r := range fakeRevisions {
		if r.Month == month && strings.NewReplacer(" ", "_", ".", "").Replace(r.Scope) == slug && (number == 0 || number == r.Number) {
			fmt.Fprintf(w, "report %s %s\n", r.Month, r.Scope)
			return r, nil
		}
	}
	return report.Revision{}, os.ErrNotExist
}
func (f *fakeSLA) Issue(_ context.Context, month, by, reason string) ([]slactl.Issued, error) {
	return []slactl.Issued{{Revision: report.Revision{Month: month, Scope: "all", Number: 2, CreatedBy: by, Reason: reason}}}, nil
}
func (f *fakeSLA) MaintenanceWindows(context.Context, time.Time, time.Time) ([]slactl.MaintenanceView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slactl.MaintenanceView(nil), f.windows...), nil
}
func (f *fakeSLA) window(req slactl.MaintenanceRequest, by string) (slactl.MaintenanceView, []slactl.FieldProblem) {
	var probs []slactl.FieldProblem
	start, err1 := time.Parse(time.RFC3339, req.Start)
	end, err2 := time.Parse(time.RFC3339, req.End)
	if err1 != nil {
		probs = append(probs, slactl.FieldProblem{Field: "start", Msg: "not RFC 3339"})
	}
	if err2 != nil {
		probs = append(probs, slactl.FieldProblem{Field: "end", Msg: "not RFC 3339"})
	}
	if req.Reason == "" {
		probs = append(probs, slactl.FieldProblem{Field: "reason", Msg: "missing"})
	}
	if len(probs) > 0 {
		return slactl.MaintenanceView{}, probs
	}
	w := sla.MaintenanceWindow{ID: "mw-1", Services: req.Services, Start: start, End: end, AnnouncedAt: testNow, AnnouncedBy: by, Reason: req.Reason}
	return slactl.MaintenanceView{MaintenanceWindow: w, Classes: []slactl.WindowClass{{Service: "web", Class: sla.MaintenancePlanned}}}, nil
}
func (f *fakeSLA) ClassifyMaintenance(_ context.Context, req slactl.MaintenanceRequest, by string) (slactl.MaintenanceView, []slactl.FieldProblem) {
	return f.window(req, by)
}
func (f *fakeSLA) AnnounceMaintenance(_ context.Context, req slactl.MaintenanceRequest, by string) (slactl.MaintenanceView, []slactl.FieldProblem, error) {
	v, probs := f.window(req, by)
	if len(probs) == 0 {
		f.mu.Lock()
		f.windows = append(f.windows, v)
		f.mu.Unlock()
	}
	return v, probs, nil
}

func (f *fakeSLA) MonthFigures(_ context.Context, month string) ([]sla.Figures, error) {
	p := sla.Period{Start: time.Date(2026, 7, 1, 0, 0, 0, 0, testNow.Location()), End: time.Date(2026, 8, 1, 0, 0, 0, 0, testNow.Location())}
	return []sla.Figures{
		{Service: "web", Customer: "Demo Corp.", SLA: "core", Objective: 0.999, Period: p, Provisional: true,
			Availability: sla.Ratio{Num: 99, Den: 100}, BudgetTotal: 100 * time.Second, BudgetSpent: 25 * time.Second, BudgetLeft: 75 * time.Second,
			RTO: time.Hour, Incidents: []sla.Incident{{Start: p.Start.Add(time.Hour), End: p.Start.Add(3 * time.Hour), Downtime: 2 * time.Hour,
				DowntimeInPeriod: 2 * time.Hour, TTR: 2 * time.Hour, RTOBreach: true, Failure: true, Causes: []string{"probe web-http"}, Stretches: 1}}},
		{Service: "crm", Customer: "Globex", SLA: "core", Objective: 0.999, Period: p,
			Incidents: []sla.Incident{{Start: p.Start.Add(5 * time.Hour), End: p.Start.Add(5*time.Hour + time.Minute), Downtime: time.Minute,
				DowntimeInPeriod: time.Minute, TTR: time.Minute, Failure: true, Causes: []string{"host hv2"}, Stretches: 1}}},
	}, nil
}

// fakePlans is a PlanController with one waiting plan.
type fakePlans struct {
	mu   sync.Mutex
	mode string
	plan Plan
}

func newFakePlans() *fakePlans {
	return &fakePlans{mode: "approve", plan: Plan{ID: "p1", Status: "waiting", TargetKW: 40, ExpectedKW: 6.5,
		Steps: []PlanStep{{N: 1, Action: "migrate", VM: "vm-1", From: "h1", To: "h2", Status: "pending"}}}}
}
func (f *fakePlans) Plans(context.Context, string, int) ([]Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []Plan{f.plan}, nil
}
func (f *fakePlans) Plan(_ context.Context, id string) (Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != f.plan.ID {
		return Plan{}, fmt.Errorf("plan %q: %w", id, ErrNotFound)
	}
	return f.plan, nil
}
func (f *fakePlans) Approve(ctx context.Context, id, by string) (Plan, error) {
	p, err := f.Plan(ctx, id)
	if err != nil {
		return p, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.Status != "waiting" {
		return p, fmt.Errorf("plan %s is %s: %w", id, p.Status, ErrConflict)
	}
	f.plan.Status, f.plan.ApprovedBy = "running", by
	return f.plan, nil
}
func (f *fakePlans) Cancel(ctx context.Context, id, by, reason string) (Plan, error) {
	p, err := f.Plan(ctx, id)
	if err != nil {
		return p, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plan.Status = "cancelled"
	return f.plan, nil
}
func (f *fakePlans) Mode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}
func (f *fakePlans) SetMode(_ context.Context, mode, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
	return nil
}

// fakeSeries returns two meters' windows across the range.
type fakeSeries struct {
	mu    sync.Mutex
	calls int
	last  SeriesQuery
}

func (f *fakeSeries) Series(_ context.Context, q SeriesQuery) ([]Series, error) {
	f.mu.Lock()
	f.calls++
	f.last = q
	f.mu.Unlock()
	var out []Series
	for i, m := range []string{"pdu-a1", "pdu-a2"} {
		s := Series{Tags: map[string]string{"meter": m}}
		for t := q.From.Add(q.Every); !t.After(q.To); t = t.Add(q.Every) {
			s.Times = append(s.Times, t)
			s.Values = append(s.Values, float64(10*(i+1)))
		}
		out = append(out, s)
	}
	return out, nil
}

// rig is a server with every controller faked and one user per role.
type rig struct {
	t       *testing.T
	srv     *Server
	demand  *fakeDemand
	sla     *fakeSLA
	plans   *fakePlans
	series  *fakeSeries
	audited []AuditEntry
	logs    *bytes.Buffer
	mu      sync.Mutex
	now     time.Time
}

// The rig's users, by role.
var rigUsers = map[string]Role{"vera": RoleViewer, "alice": RoleOperator, "ada": RoleAdmin, "cora": RoleCustomer}

func newRig(t *testing.T, mod ...func(*Config)) *rig {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var users []User
	for name, role := range rigUsers {
		u := User{Name: name, Role: role, PasswordHash: string(hash)}
		if role == RoleCustomer {
			u.Customer = "Demo Corp."
		}
		users = append(users, u)
	}
	auth, err := NewAuthenticator(AuthConfig{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	auth.cost = bcrypt.MinCost // managed users' passwords (users_test.go)
	r := &rig{t: t, demand: &fakeDemand{}, sla: &fakeSLA{}, plans: newFakePlans(), series: &fakeSeries{}, logs: &bytes.Buffer{}, now: testNow}
	live := NewLive("dc1", tableReader{}, nil, time.Hour, nil)
	cfg := Config{Site: "dc1", Version: "t", Live: live, Gatherer: prometheus.NewRegistry(), Auth: auth,
		Logger: slog.New(slog.NewTextHandler(syncWriter{r}, nil)),
		Demand: r.demand, SLA: r.sla, Plans: r.plans, Series: r.series, Cost: &fakeCost{}, Users: newFakeUserStore(),
		Now:   func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now },
		Audit: func(_ context.Context, e AuditEntry) { r.mu.Lock(); r.audited = append(r.audited, e); r.mu.Unlock() }}
	for _, m := range mod {
		m(&cfg)
	}
	r.srv = New(cfg)
	return r
}

type syncWriter struct{ r *rig }

func (w syncWriter) Write(b []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.logs.Write(b)
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// response is what a request got.
type response struct {
	code int
	head http.Header
	body []byte
	json map[string]any
}

func (r response) fields() []string {
	var out []string
	probs, _ := r.json["problems"].([]any)
	for _, p := range probs {
		out = append(out, p.(map[string]any)["field"].(string))
	}
	return out
}

// do sends a request; prep adds credentials and headers.
func (r *rig) do(method, path, body string, prep ...func(*http.Request)) response {
	r.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, p := range prep {
		p(req)
	}
	resp, err := r.srv.App().Test(req, 30000)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out := response{code: resp.StatusCode, head: resp.Header}
	out.body, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(out.body, &out.json)
	}
	return out
}

func as(user string) func(*http.Request) {
	return func(req *http.Request) { req.SetBasicAuth(user, testPassword) }
}

func header(k, v string) func(*http.Request) {
	return func(req *http.Request) { req.Header.Set(k, v) }
}
