package sla

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// MaintenanceWindow is one announced maintenance. Records are append-only:
// rescheduling or cancelling appends a new record with the same ID, and the
// latest record of an ID is the one in force. Zabbix keeps no record of when
// an excluded downtime was entered, so one can be added after the fact
// (research §1.1); here every record carries who announced it, when they
// say they announced it, and when the store received it.
type MaintenanceWindow struct {
	ID       string    `json:"id" yaml:"id"`
	Services []string  `json:"services" yaml:"services"`
	Start    time.Time `json:"start" yaml:"start"`
	End      time.Time `json:"end" yaml:"end"`
	// AnnouncedAt is when the customers were told (e.g. the notice e-mail).
	AnnouncedAt time.Time `json:"announced_at" yaml:"announced_at"`
	AnnouncedBy string    `json:"announced_by" yaml:"announced_by"`
	Reason      string    `json:"reason,omitempty" yaml:"reason"`
	// RecordedAt is set by the store when the record is appended. An
	// AnnouncedAt much earlier than RecordedAt is back-dating.
	RecordedAt time.Time `json:"recorded_at,omitzero" yaml:"recorded_at"`
	// BackdateApprovedBy names who approved an AnnouncedAt earlier than
	// RecordedAt; the report shows the approval.
	BackdateApprovedBy string `json:"backdate_approved_by,omitempty" yaml:"backdate_approved_by"`
	// Cancelled withdraws the window (a record of its own, for the audit).
	Cancelled bool `json:"cancelled,omitempty" yaml:"cancelled"`
	// ImportedFrom names the calendar file an imported record came from
	// (setsuden maintenance import) and ImportedBy who imported it: the
	// record keeps the calendar's original AnnouncedAt, and the import is
	// its approval (NoticeFrom). Empty for a window announced here.
	ImportedFrom string `json:"imported_from,omitempty" yaml:"-"`
	ImportedBy   string `json:"imported_by,omitempty" yaml:"-"`
}

// Imported reports a record imported from a calendar file.
func (w MaintenanceWindow) Imported() bool { return w.ImportedFrom != "" }

// Validate checks a record before it is appended.
func (w MaintenanceWindow) Validate() error {
	switch {
	case w.ID == "":
		return errors.New("maintenance window: id is empty")
	case len(w.Services) == 0:
		return fmt.Errorf("maintenance window %q: no services", w.ID)
	case !w.End.After(w.Start):
		return fmt.Errorf("maintenance window %q: end %s is not after start %s", w.ID, w.End, w.Start)
	case w.AnnouncedAt.IsZero():
		return fmt.Errorf("maintenance window %q: announced_at is not set", w.ID)
	case w.AnnouncedBy == "":
		return fmt.Errorf("maintenance window %q: announced_by is empty (the record is an audit trail)", w.ID)
	}
	return nil
}

func (w MaintenanceWindow) covers(service string) bool {
	for _, s := range w.Services {
		if s == service {
			return true
		}
	}
	return false
}

// MaintenanceClass is what a window counts as.
type MaintenanceClass string

const (
	// MaintenancePlanned: announced at least the notice period ahead;
	// excluded from service time.
	MaintenancePlanned MaintenanceClass = "planned"
	// MaintenanceShortNotice: announced later than that; counts as DOWN.
	MaintenanceShortNotice MaintenanceClass = "short-notice"
)

// NoticeFrom is the time the notice period counts from: AnnouncedAt, unless
// the record was back-dated (AnnouncedAt earlier than RecordedAt by more
// than the tolerance) without an approval, in which case RecordedAt. An
// imported record (Imported) is approved by its import: its calendar's
// announcement time counts, and backdated is still reported so that the
// report shows both times.
func (w MaintenanceWindow) NoticeFrom(pol Policy) (at time.Time, backdated bool) {
	pol = pol.WithDefaults()
	if w.RecordedAt.IsZero() || !w.AnnouncedAt.Before(w.RecordedAt.Add(-pol.BackdateTolerance)) {
		return w.AnnouncedAt, false
	}
	if w.BackdateApprovedBy != "" || w.Imported() {
		return w.AnnouncedAt, true
	}
	return w.RecordedAt, true
}

// Classify says whether w is planned under s: announced at least
// s.NoticePeriod before it starts (mission.md: "announced >= 30 days ahead:
// excluded").
func (w MaintenanceWindow) Classify(s SLA, pol Policy) (MaintenanceClass, time.Duration) {
	from, _ := w.NoticeFrom(pol)
	notice := w.Start.Sub(from)
	if notice >= s.WithDefaults().NoticePeriod {
		return MaintenancePlanned, notice
	}
	return MaintenanceShortNotice, notice
}

// MaintenanceStore is the append-only log of maintenance records.
type MaintenanceStore interface {
	// Append validates w, stamps RecordedAt and stores it. It never
	// changes or removes an earlier record.
	Append(ctx context.Context, w MaintenanceWindow) (MaintenanceWindow, error)
	// Windows returns the record in force of every window that overlaps
	// [from, to) and is not cancelled, ordered by start.
	Windows(ctx context.Context, from, to time.Time) ([]MaintenanceWindow, error)
	// History returns every record of one window, oldest first.
	History(ctx context.Context, id string) ([]MaintenanceWindow, error)
}

// maintenanceLog is the shared in-memory index of both stores.
type maintenanceLog struct {
	records []MaintenanceWindow
	byID    map[string][]int
}

func (l *maintenanceLog) add(w MaintenanceWindow) {
	if l.byID == nil {
		l.byID = map[string][]int{}
	}
	l.byID[w.ID] = append(l.byID[w.ID], len(l.records))
	l.records = append(l.records, w)
}

func (l *maintenanceLog) windows(from, to time.Time) []MaintenanceWindow {
	var out []MaintenanceWindow
	for _, idx := range l.byID {
		w := l.records[idx[len(idx)-1]]
		if w.Cancelled || !w.Start.Before(to) || !w.End.After(from) {
			continue
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (l *maintenanceLog) history(id string) []MaintenanceWindow {
	idx := l.byID[id]
	out := make([]MaintenanceWindow, len(idx))
	for i, k := range idx {
		out[i] = l.records[k]
	}
	return out
}

// MemoryMaintenanceStore keeps records in memory (tests, demo).
type MemoryMaintenanceStore struct {
	// Now stamps RecordedAt; nil means time.Now.
	Now func() time.Time

	mu  sync.Mutex
	log maintenanceLog
}

// NewMemoryMaintenanceStore returns an empty store that stamps records with now.
func NewMemoryMaintenanceStore(now func() time.Time) *MemoryMaintenanceStore {
	return &MemoryMaintenanceStore{Now: now}
}

// Append implements MaintenanceStore.
func (s *MemoryMaintenanceStore) Append(_ context.Context, w MaintenanceWindow) (MaintenanceWindow, error) {
	if err := w.Validate(); err != nil {
		return w, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	w.RecordedAt = now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.add(w)
	return w, nil
}

// Windows implements MaintenanceStore.
func (s *MemoryMaintenanceStore) Windows(_ context.Context, from, to time.Time) ([]MaintenanceWindow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.windows(from, to), nil
}

// History implements MaintenanceStore.
func (s *MemoryMaintenanceStore) History(_ context.Context, id string) ([]MaintenanceWindow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.history(id), nil
}
