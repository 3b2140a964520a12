package executor

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// Store is the audit store: plans, steps, every event and the site lock, in
// one SQLite file that survives restarts. Several processes may open the
// same file (WAL, busy timeout); the lock row decides which one acts.
type Store struct {
	db   *sql.DB
	path string
}

const schema = `
CREATE TABLE IF NOT EXISTS plans (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  predicted_kw REAL NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
  state TEXT NOT NULL, state_reason TEXT NOT NULL DEFAULT '',
  started_at INTEGER, ended_at INTEGER, baseline_kw REAL, measured_kw REAL);
CREATE TABLE IF NOT EXISTS steps (
  plan_id TEXT NOT NULL, idx INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
  vm TEXT NOT NULL DEFAULT '', src TEXT NOT NULL DEFAULT '', dst TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL DEFAULT '', point TEXT NOT NULL DEFAULT '', value REAL,
  depends_on TEXT NOT NULL DEFAULT '[]', expected_saving_kw REAL NOT NULL DEFAULT 0,
  state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', started_at INTEGER, ended_at INTEGER,
  runs INTEGER NOT NULL DEFAULT 0, previous REAL,
  PRIMARY KEY (plan_id, id));
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, site TEXT NOT NULL,
  plan_id TEXT NOT NULL DEFAULT '', step_id TEXT NOT NULL DEFAULT '', actor TEXT NOT NULL,
  event TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS locks (
  site TEXT PRIMARY KEY, owner TEXT NOT NULL, acquired_at INTEGER NOT NULL, heartbeat INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hosts_out (
  host TEXT PRIMARY KEY, reason TEXT NOT NULL, since INTEGER NOT NULL);
`

// OpenStore opens (creating if needed) the SQLite audit store at path.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	if strings.TrimSpace(path) == "" {
		return nil, errors.New("executor audit store: path is empty")
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("executor audit store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("executor audit store %s: create tables: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// LockError says another executor holds the site.
type LockError struct {
	Site, Owner string
	Heartbeat   time.Time
	TTL         time.Duration
}

func (e *LockError) Error() string {
	return fmt.Sprintf("executor for site %q is %s (last heartbeat %s ago, lock expires after %s without one): this instance will not act",
		e.Site, e.Owner, time.Since(e.Heartbeat).Round(time.Second), e.TTL)
}

// AcquireLock takes the site's lock for owner, or takes it over when the
// holder's heartbeat is older than ttl. Held by another live owner: a
// *LockError.
func (s *Store) AcquireLock(ctx context.Context, site, owner string, ttl time.Duration, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("executor lock: %w", err)
	}
	defer tx.Rollback()
	var cur string
	var hb int64
	err = tx.QueryRowContext(ctx, `SELECT owner, heartbeat FROM locks WHERE site = ?`, site).Scan(&cur, &hb)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO locks (site, owner, acquired_at, heartbeat) VALUES (?, ?, ?, ?)`, site, owner, now.UnixNano(), now.UnixNano())
	case err != nil:
	case cur == owner || now.Sub(time.Unix(0, hb)) > ttl:
		_, err = tx.ExecContext(ctx, `UPDATE locks SET owner = ?, acquired_at = ?, heartbeat = ? WHERE site = ?`, owner, now.UnixNano(), now.UnixNano(), site)
	default:
		return &LockError{Site: site, Owner: cur, Heartbeat: time.Unix(0, hb), TTL: ttl}
	}
	if err != nil {
		return fmt.Errorf("executor lock: %w", err)
	}
	return tx.Commit()
}

// Heartbeat refreshes owner's lock; it fails if owner lost it.
func (s *Store) Heartbeat(ctx context.Context, site, owner string, now time.Time) error {
	r, err := s.db.ExecContext(ctx, `UPDATE locks SET heartbeat = ? WHERE site = ? AND owner = ?`, now.UnixNano(), site, owner)
	if err != nil {
		return fmt.Errorf("executor lock heartbeat: %w", err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return fmt.Errorf("executor lock for site %q: %w: no longer held by %s", site, ErrLockLost, owner)
	}
	return nil
}

// ErrLockLost: another instance holds the site's lock now.
var ErrLockLost = errors.New("lock lost")

// ReleaseLock gives owner's lock up.
func (s *Store) ReleaseLock(ctx context.Context, site, owner string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM locks WHERE site = ? AND owner = ?`, site, owner)
	return err
}

// Event is one audit record.
type Event struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Site   string    `json:"site"`
	Plan   string    `json:"plan,omitempty"`
	Step   string    `json:"step,omitempty"`
	Actor  string    `json:"actor"` // executor owner, or "operator:NAME"
	Event  string    `json:"event"` // plan_submitted, step_started, step_done, ...
	Detail string    `json:"detail,omitempty"`
}

// AppendEvent records e and returns it with its sequence number.
func (s *Store) AppendEvent(ctx context.Context, e Event) (Event, error) {
	r, err := s.db.ExecContext(ctx, `INSERT INTO audit (ts, site, plan_id, step_id, actor, event, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.Site, e.Plan, e.Step, e.Actor, e.Event, e.Detail)
	if err != nil {
		return e, fmt.Errorf("executor audit store: record %s: %w", e.Event, err)
	}
	e.Seq, _ = r.LastInsertId()
	return e, nil
}

// Events lists the audit records of a plan ("" for all), oldest first.
func (s *Store) Events(ctx context.Context, plan string) ([]Event, error) {
	q := `SELECT seq, ts, site, plan_id, step_id, actor, event, detail FROM audit`
	args := []any{}
	if plan != "" {
		q += ` WHERE plan_id = ?`
		args = append(args, plan)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("executor audit store: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var ts int64
		if err := rows.Scan(&e.Seq, &ts, &e.Site, &e.Plan, &e.Step, &e.Actor, &e.Event, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// InsertPlan stores a new plan and its steps.
func (s *Store) InsertPlan(ctx context.Context, site string, p *Plan) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO plans (id, site, kind, reason, predicted_kw, created_at, state, state_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, site, p.Kind, p.Reason, p.PredictedKW, p.CreatedAt.UnixNano(), p.State, p.StateReason); err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("executor: plan %s was submitted before", p.ID)
		}
		return fmt.Errorf("executor audit store: insert plan %s: %w", p.ID, err)
	}
	for i, st := range p.Steps {
		deps, _ := json.Marshal(st.DependsOn)
		if _, err := tx.ExecContext(ctx, `INSERT INTO steps (plan_id, idx, id, kind, vm, src, dst, host, point, value, depends_on, expected_saving_kw, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, i, st.ID, st.Kind, st.VM, st.From, st.To, st.Host, st.Point, nullF(st.Value), string(deps), st.ExpectedSavingKW, st.State); err != nil {
			return fmt.Errorf("executor audit store: insert step %s/%s: %w", p.ID, st.ID, err)
		}
	}
	return tx.Commit()
}

// SavePlanState stores the plan's state, times and measurements.
func (s *Store) SavePlanState(ctx context.Context, p *Plan) error {
	_, err := s.db.ExecContext(ctx, `UPDATE plans SET state = ?, state_reason = ?, started_at = ?, ended_at = ?, baseline_kw = ?, measured_kw = ? WHERE id = ?`,
		p.State, p.StateReason, nullT(p.StartedAt), nullT(p.EndedAt), nullF(p.BaselineKW), nullF(p.MeasuredKW), p.ID)
	if err != nil {
		return fmt.Errorf("executor audit store: plan %s: %w", p.ID, err)
	}
	return nil
}

// SaveStep stores one step's run state.
func (s *Store) SaveStep(ctx context.Context, plan string, st *Step) error {
	_, err := s.db.ExecContext(ctx, `UPDATE steps SET state = ?, reason = ?, started_at = ?, ended_at = ?, runs = ?, previous = ? WHERE plan_id = ? AND id = ?`,
		st.State, st.Reason, nullT(st.StartedAt), nullT(st.EndedAt), st.Runs, nullF(st.Previous), plan, st.ID)
	if err != nil {
		return fmt.Errorf("executor audit store: step %s/%s: %w", plan, st.ID, err)
	}
	return nil
}

// Plans loads the site's plans (newest first) with their steps.
func (s *Store) Plans(ctx context.Context, site string) ([]*Plan, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, reason, predicted_kw, created_at, state, state_reason, started_at, ended_at, baseline_kw, measured_kw FROM plans WHERE site = ? ORDER BY created_at DESC, id`, site)
	if err != nil {
		return nil, fmt.Errorf("executor audit store: plans: %w", err)
	}
	var out []*Plan
	for rows.Next() {
		p := &Plan{}
		var created int64
		var started, ended sql.NullInt64
		var base, meas sql.NullFloat64
		if err := rows.Scan(&p.ID, &p.Kind, &p.Reason, &p.PredictedKW, &created, &p.State, &p.StateReason, &started, &ended, &base, &meas); err != nil {
			rows.Close()
			return nil, err
		}
		p.CreatedAt = time.Unix(0, created)
		p.StartedAt, p.EndedAt = ptrT(started), ptrT(ended)
		p.BaselineKW, p.MeasuredKW = ptrF(base), ptrF(meas)
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range out {
		if err := s.loadSteps(ctx, p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) loadSteps(ctx context.Context, p *Plan) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, vm, src, dst, host, point, value, depends_on, expected_saving_kw, state, reason, started_at, ended_at, runs, previous FROM steps WHERE plan_id = ? ORDER BY idx`, p.ID)
	if err != nil {
		return fmt.Errorf("executor audit store: steps of %s: %w", p.ID, err)
	}
	defer rows.Close()
	p.Steps = nil
	for rows.Next() {
		var st Step
		var value, prev sql.NullFloat64
		var deps string
		var started, ended sql.NullInt64
		if err := rows.Scan(&st.ID, &st.Kind, &st.VM, &st.From, &st.To, &st.Host, &st.Point, &value, &deps, &st.ExpectedSavingKW, &st.State, &st.Reason, &started, &ended, &st.Runs, &prev); err != nil {
			return err
		}
		st.Value, st.Previous = ptrF(value), ptrF(prev)
		st.StartedAt, st.EndedAt = ptrT(started), ptrT(ended)
		_ = json.Unmarshal([]byte(deps), &st.DependsOn)
		p.Steps = append(p.Steps, st)
	}
	return rows.Err()
}

// ExcludeHost keeps host out of later plans (it did not come back).
func (s *Store) ExcludeHost(ctx context.Context, host, reason string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO hosts_out (host, reason, since) VALUES (?, ?, ?) ON CONFLICT(host) DO UPDATE SET reason = excluded.reason, since = excluded.since`, host, reason, now.UnixNano())
	return err
}

// ReadmitHost takes host back (an operator, or the host answered again).
func (s *Store) ReadmitHost(ctx context.Context, host string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM hosts_out WHERE host = ?`, host)
	return err
}

// ExcludedHosts maps each excluded host to the reason.
func (s *Store) ExcludedHosts(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT host, reason FROM hosts_out`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var h, r string
		if err := rows.Scan(&h, &r); err != nil {
			return nil, err
		}
		out[h] = r
	}
	return out, rows.Err()
}

func nullF(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func nullT(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

func ptrF(n sql.NullFloat64) *float64 {
	if !n.Valid {
		return nil
	}
	v := n.Float64
	return &v
}

func ptrT(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64)
	return &t
}
