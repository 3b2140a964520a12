package slactl

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// MaintenanceRequest announces maintenance as the API's JSON body and the
// CLI's flags give it; times are RFC 3339. With ID, it is a new record of
// an announced window (rescheduled, or Cancelled); without, a new window.
// Who announces it and when is not part of the request: the API takes the
// authenticated operator and its clock, the CLI --by and its clock.
type MaintenanceRequest struct {
	ID        string   `json:"id,omitempty"`
	Services  []string `json:"services"`
	Start     string   `json:"start"`
	End       string   `json:"end"`
	Reason    string   `json:"reason"`
	Cancelled bool     `json:"cancelled,omitempty"`
}

// FieldProblem is one thing wrong with a request, naming its field.
type FieldProblem struct {
	Field string `json:"field"`
	Msg   string `json:"message"`
}

func (p FieldProblem) String() string { return p.Field + ": " + p.Msg }

// maxMaintenance bounds a window: a mistyped year must not take months
// out of every report.
const maxMaintenance = 31 * 24 * time.Hour

// NewMaintenanceWindow checks req against the catalog and the log and
// returns the record to append, announced by by at now; or every problem,
// each naming its field.
func NewMaintenanceWindow(ctx context.Context, cat sla.Catalog, log sla.MaintenanceStore, req MaintenanceRequest, by string, now time.Time) (sla.MaintenanceWindow, []FieldProblem) {
	var probs []FieldProblem
	add := func(field, format string, args ...any) {
		probs = append(probs, FieldProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	w := sla.MaintenanceWindow{ID: req.ID, AnnouncedAt: now, AnnouncedBy: strings.TrimSpace(by),
		Reason: strings.TrimSpace(req.Reason), Cancelled: req.Cancelled}
	var prev *sla.MaintenanceWindow
	switch {
	case req.ID == "" && req.Cancelled:
		add("id", "missing (expected the id of the window to cancel)")
	case req.ID == "":
		w.ID = newMaintenanceID(now)
	case !validName(req.ID):
		add("id", "%q is not an id (expected up to 64 letters, digits, _ . -)", req.ID)
	default:
		hist, err := log.History(ctx, req.ID)
		if err != nil {
			add("id", "the maintenance log cannot be read: %v (expected a readable log)", err)
		} else if len(hist) == 0 {
			add("id", "no maintenance window %q (expected the id of an announced window; leave id out to announce a new one)", req.ID)
		} else {
			prev = &hist[len(hist)-1]
		}
	}
	if w.AnnouncedBy == "" {
		add("announced_by", "missing (expected who announces the maintenance)")
	}
	if w.Reason == "" {
		add("reason", "missing (expected what the maintenance is for, e.g. storage firmware upgrade)")
	}

	known := map[string]bool{}
	var names []string
	for _, s := range cat.Services {
		known[s.Name] = true
		names = append(names, s.Name)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for _, s := range req.Services {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			add("services", "an empty service name")
		case !known[s]:
			add("services", "unknown service %q (expected some of: %s)", s, listNames(names, 12))
		case !seen[s]:
			seen[s] = true
			w.Services = append(w.Services, s)
		}
	}
	start, startOK := parseRFC3339(req.Start, "start", add)
	end, endOK := parseRFC3339(req.End, "end", add)
	if prev != nil {
		// A cancellation or reschedule may leave out what stays as it was.
		if len(req.Services) == 0 {
			w.Services = prev.Services
		}
		if req.Start == "" {
			start, startOK = prev.Start, true
		}
		if req.End == "" {
			end, endOK = prev.End, true
		}
	}
	// With an id, what is left out stays as the window's last record has
	// it (or the id's problem explains why there is none).
	if len(req.Services) == 0 && req.ID == "" && !req.Cancelled {
		add("services", "missing (expected the services the maintenance takes down, e.g. [\"web\"])")
	}
	if req.Start == "" && req.ID == "" && !req.Cancelled {
		add("start", "missing (expected an RFC 3339 time, e.g. 2026-07-01T02:00:00+09:00)")
	}
	if req.End == "" && req.ID == "" && !req.Cancelled {
		add("end", "missing (expected an RFC 3339 time, e.g. 2026-07-01T04:00:00+09:00)")
	}
	if startOK && endOK {
		switch {
		case !end.After(start):
			add("end", "%s is not after start %s (expected a window of some length)", end.Format(time.RFC3339), start.Format(time.RFC3339))
		case end.Sub(start) > maxMaintenance:
			add("end", "the window is %s long (expected at most 31 days; announce longer work as several windows)", end.Sub(start).Round(time.Minute))
		}
	}
	w.Start, w.End = start, end
	if len(probs) > 0 {
		return sla.MaintenanceWindow{}, probs
	}
	if err := w.Validate(); err != nil {
		return sla.MaintenanceWindow{}, []FieldProblem{{Field: "body", Msg: err.Error()}}
	}
	return w, nil
}

func parseRFC3339(s, field string, add func(string, string, ...any)) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		add(field, "%q is not an RFC 3339 time (expected e.g. 2026-07-01T02:00:00+09:00)", s)
		return time.Time{}, false
	}
	return t, true
}

func newMaintenanceID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "mw-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

func listNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(", ... (%d in all)", len(names))
}

// WindowClass is what a maintenance window counts as for one service.
type WindowClass struct {
	Service string               `json:"service"`
	SLA     string               `json:"sla"`
	Class   sla.MaintenanceClass `json:"class"`
	// Notice is how long before the start it was announced; Required the
	// SLA's notice period. The JSON has them in seconds.
	Notice    time.Duration `json:"-"`
	Required  time.Duration `json:"-"`
	NoticeS   int64         `json:"notice_s"`
	RequiredS int64         `json:"required_s"`
	// Backdated: announced earlier than recorded, beyond the tolerance.
	Backdated bool `json:"backdated,omitempty"`
}

// Planned says whether the window is excluded from this service's time.
func (c WindowClass) Planned() bool { return c.Class == sla.MaintenancePlanned }

// MaintenanceView is a maintenance record with what it counts as for each
// of its services.
type MaintenanceView struct {
	sla.MaintenanceWindow
	Classes []WindowClass `json:"classes"`
}

// ClassifyWindow says what w counts as for each of its services under
// their SLAs: PLANNED when announced at least the notice period ahead.
func ClassifyWindow(cat sla.Catalog, pol sla.Policy, w sla.MaintenanceWindow) MaintenanceView {
	v := MaintenanceView{MaintenanceWindow: w}
	_, backdated := w.NoticeFrom(pol)
	for _, name := range w.Services {
		svc, ok := cat.Service(name)
		if !ok {
			continue
		}
		agreement, _ := cat.SLA(svc.SLA)
		agreement = agreement.WithDefaults()
		class, notice := w.Classify(agreement, pol)
		v.Classes = append(v.Classes, WindowClass{Service: name, SLA: agreement.Name, Class: class,
			Notice: notice, Required: agreement.NoticePeriod, Backdated: backdated,
			NoticeS: int64(notice / time.Second), RequiredS: int64(agreement.NoticePeriod / time.Second)})
	}
	return v
}

// ErrMaintenanceLogBusy is returned when another process holds the log.
var ErrMaintenanceLogBusy = errors.New("the maintenance log is in use by another setsuden process")

// MaintenanceLog is the file maintenance log opened to append to. A
// sla.FileMaintenanceStore assumes it is the file's one writer, so the log
// is locked (flock on LOG.lock) while it is open: the daemon holds it, and
// `setsuden maintenance add` cannot append beside it.
type MaintenanceLog struct {
	*sla.FileMaintenanceStore
	lock *os.File
}

// OpenMaintenanceLog locks and opens (creating) the log at path; now
// stamps RecordedAt (nil: time.Now). It fails with ErrMaintenanceLogBusy
// if another process has it open.
func OpenMaintenanceLog(path string, now func() time.Time) (*MaintenanceLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("maintenance log: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("maintenance log: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrMaintenanceLogBusy)
		}
		return nil, fmt.Errorf("maintenance log %s: lock: %w", path, err)
	}
	st, err := sla.OpenFileMaintenanceStore(path, now)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &MaintenanceLog{FileMaintenanceStore: st, lock: lock}, nil
}

// Close closes the log and releases the lock.
func (l *MaintenanceLog) Close() error {
	err := l.FileMaintenanceStore.Close()
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadMaintenanceLog reads the log at path without writing to it or
// locking it, so it is safe while the daemon appends: a last line still
// being written is left out. A missing file is an empty log. The result
// answers Windows and History as the file store does.
func ReadMaintenanceLog(path string) (*sla.MemoryMaintenanceStore, error) {
	store := &sla.MemoryMaintenanceStore{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return store, nil
	}
	if err != nil {
		return nil, fmt.Errorf("maintenance log: %w", err)
	}
	r := bufio.NewReader(bytes.NewReader(data))
	for line := 1; ; line++ {
		raw, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // a torn or unfinished last line
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		var w sla.MaintenanceWindow
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("%s:%d: maintenance record: %w", path, line, err)
		}
		// Replay the record with the time the file store stamped on it.
		recorded := w.RecordedAt
		store.Now = func() time.Time { return recorded }
		if _, err := store.Append(context.Background(), w); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	store.Now = nil
	return store, nil
}
