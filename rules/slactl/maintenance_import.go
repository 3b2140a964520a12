package slactl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/rules/sla"
)

// CalendarColumns are the fields of a maintenance calendar, in the order
// of a CSV file's header (docs/sla.md "Importing a maintenance calendar").
// id is optional (one is derived from the entry); services are separated
// by ";" in CSV.
var CalendarColumns = []string{"id", "services", "start", "end", "announced_at", "announced_by", "reason"}

// calendarEntry is one row of a calendar as read, with its line.
type calendarEntry struct {
	line   int
	fields map[string]string
}

// ImportProblem is what is wrong with one entry of a calendar file.
type ImportProblem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (p ImportProblem) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Field, p.Msg)
}

// ImportProblems are all the problems of a calendar; nothing is imported
// while there are any.
type ImportProblems []ImportProblem

func (ps ImportProblems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// ImportResult lists the windows appended and those already in the log
// from an earlier import of the same entries.
type ImportResult struct {
	Imported, Unchanged []sla.MaintenanceWindow
}

// ImportMaintenance appends the windows of a maintenance calendar (CSV
// with a header of CalendarColumns, or YAML: a list of mappings with those
// keys, or {windows: [...]}) to the log with their original announcement
// times. Each record is audited as an import: ImportedFrom is file (as
// given, made absolute), ImportedBy is by, RecordedAt is stamped by the
// log. Every entry is checked first; any problem imports nothing. An entry
// already in the log with the same content (a second import of the same
// file) is left alone; the same id with other content is a problem (use
// `maintenance add --id` to reschedule). now bounds announced_at: an
// announcement cannot be in the future.
func ImportMaintenance(ctx context.Context, cat sla.Catalog, log sla.MaintenanceStore, file string, data []byte, by string, now time.Time) (ImportResult, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return ImportResult{}, errors.New("maintenance import: who imports the calendar is required (the audit trail)")
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	entries, probs := parseCalendar(file, data)
	known := map[string]bool{}
	var names []string
	for _, s := range cat.Services {
		known[s.Name] = true
		names = append(names, s.Name)
	}
	slices.Sort(names)
	var res ImportResult
	var todo []sla.MaintenanceWindow
	ids := map[string]int{}
	for _, e := range entries {
		add := func(field, format string, args ...any) {
			probs = append(probs, ImportProblem{File: file, Line: e.line, Field: field, Msg: fmt.Sprintf(format, args...)})
		}
		w := sla.MaintenanceWindow{ID: e.fields["id"], AnnouncedBy: e.fields["announced_by"], Reason: e.fields["reason"],
			ImportedFrom: abs, ImportedBy: by}
		for _, s := range strings.FieldsFunc(e.fields["services"], func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			if !known[s] {
				add("services", "unknown service %q (expected some of: %s)", s, listNames(names, 12))
				continue
			}
			if !slices.Contains(w.Services, s) {
				w.Services = append(w.Services, s)
			}
		}
		if e.fields["services"] == "" {
			add("services", "missing (expected the services the maintenance took down, separated by ;)")
		}
		ts := map[string]*time.Time{"start": &w.Start, "end": &w.End, "announced_at": &w.AnnouncedAt}
		for _, k := range []string{"start", "end", "announced_at"} {
			v := e.fields[k]
			if v == "" {
				add(k, "missing (expected an RFC 3339 time, e.g. 2026-07-01T02:00:00+09:00)")
				continue
			}
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				add(k, "%q is not an RFC 3339 time (expected e.g. 2026-07-01T02:00:00+09:00)", v)
				continue
			}
			*ts[k] = t
		}
		switch {
		case w.Start.IsZero() || w.End.IsZero():
		case !w.End.After(w.Start):
			add("end", "%s is not after start %s", w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339))
		case w.End.Sub(w.Start) > maxMaintenance:
			add("end", "the window is %s long (expected at most 31 days)", w.End.Sub(w.Start).Round(time.Minute))
		}
		if !w.AnnouncedAt.IsZero() && w.AnnouncedAt.After(now) {
			add("announced_at", "%s is in the future (expected when the customers were told)", w.AnnouncedAt.Format(time.RFC3339))
		}
		if w.AnnouncedBy == "" {
			add("announced_by", "missing (expected who announced the maintenance)")
		}
		if w.Reason == "" {
			add("reason", "missing (expected what the maintenance was for)")
		}
		if w.ID == "" {
			w.ID = calendarID(w)
		} else if !validName(w.ID) {
			add("id", "%q is not an id (expected up to 64 letters, digits, _ . -)", w.ID)
		}
		if first, dup := ids[w.ID]; dup {
			add("id", "%q is also the id of line %d (expected one entry per window)", w.ID, first)
		}
		ids[w.ID] = e.line
		hist, err := log.History(ctx, w.ID)
		if err != nil {
			return ImportResult{}, fmt.Errorf("maintenance import: %w", err)
		}
		if len(hist) > 0 {
			if last := hist[len(hist)-1]; sameCalendarEntry(last, w) {
				res.Unchanged = append(res.Unchanged, last)
				continue
			}
			add("id", "%q is already in the maintenance log with other times or services (expected a new id; reschedule with `setsuden maintenance add --id`)", w.ID)
		}
		todo = append(todo, w)
	}
	if len(entries) == 0 && len(probs) == 0 {
		probs = append(probs, ImportProblem{File: file, Line: 1, Field: "windows", Msg: "the calendar has no entries"})
	}
	if len(probs) > 0 {
		return ImportResult{}, ImportProblems(probs)
	}
	for _, w := range todo {
		got, err := log.Append(ctx, w)
		if err != nil {
			return res, fmt.Errorf("maintenance import: window %s: %w", w.ID, err)
		}
		res.Imported = append(res.Imported, got)
	}
	return res, nil
}

// sameCalendarEntry: the log's record is this entry, imported before.
func sameCalendarEntry(a, b sla.MaintenanceWindow) bool {
	return a.Imported() && slices.Equal(a.Services, b.Services) && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.AnnouncedAt.Equal(b.AnnouncedAt) && a.AnnouncedBy == b.AnnouncedBy && a.Reason == b.Reason && !a.Cancelled
}

// calendarID derives an entry's id from its content, so that importing a
// calendar again finds its windows.
func calendarID(w sla.MaintenanceWindow) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s", strings.Join(w.Services, ";"), w.Start.UTC().Format(time.RFC3339),
		w.End.UTC().Format(time.RFC3339), w.AnnouncedAt.UTC().Format(time.RFC3339), w.AnnouncedBy, w.Reason)
	return "imp-" + hex.EncodeToString(h.Sum(nil))[:10]
}

// parseCalendar reads CSV or YAML by the file's extension (.csv, else
// YAML).
func parseCalendar(file string, data []byte) ([]calendarEntry, ImportProblems) {
	if strings.EqualFold(filepath.Ext(file), ".csv") {
		return parseCalendarCSV(file, data)
	}
	return parseCalendarYAML(file, data)
}

func parseCalendarCSV(file string, data []byte) ([]calendarEntry, ImportProblems) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, ImportProblems{{File: file, Line: 1, Field: "header", Msg: fmt.Sprintf("cannot read the CSV header: %v (expected %s)", err, strings.Join(CalendarColumns, ","))}}
	}
	var probs ImportProblems
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !slices.Contains(CalendarColumns, h) {
			probs = append(probs, ImportProblem{File: file, Line: 1, Field: "header", Msg: fmt.Sprintf("unknown column %q (expected some of %s)", h, strings.Join(CalendarColumns, ","))})
			continue
		}
		col[h] = i
	}
	if len(probs) > 0 {
		return nil, probs
	}
	var out []calendarEntry
	for {
		line, _ := r.FieldPos(0)
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, append(probs, ImportProblem{File: file, Line: line + 1, Field: "csv", Msg: err.Error()})
		}
		line, _ = r.FieldPos(0)
		e := calendarEntry{line: line, fields: map[string]string{}}
		for k, i := range col {
			if i < len(rec) {
				e.fields[k] = strings.TrimSpace(rec[i])
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func parseCalendarYAML(file string, data []byte) ([]calendarEntry, ImportProblems) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, ImportProblems{{File: file, Line: 1, Field: "yaml", Msg: fmt.Sprintf("%v (expected a list of windows)", err)}}
	}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.MappingNode {
		var list *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "windows" {
				list = n.Content[i+1]
			}
		}
		if list == nil {
			return nil, ImportProblems{{File: file, Line: n.Line, Field: "windows", Msg: "missing (expected a list of windows, or the list itself)"}}
		}
		n = list
	}
	if n.Kind != yaml.SequenceNode {
		return nil, ImportProblems{{File: file, Line: n.Line, Field: "windows", Msg: "not a list (expected a list of windows)"}}
	}
	var out []calendarEntry
	var probs ImportProblems
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			probs = append(probs, ImportProblem{File: file, Line: item.Line, Field: "windows", Msg: "an entry is not a mapping (expected id, services, start, end, announced_at, announced_by, reason)"})
			continue
		}
		e := calendarEntry{line: item.Line, fields: map[string]string{}}
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := item.Content[i], item.Content[i+1]
			if !slices.Contains(CalendarColumns, k.Value) {
				probs = append(probs, ImportProblem{File: file, Line: k.Line, Field: k.Value, Msg: fmt.Sprintf("unknown key (expected some of %s)", strings.Join(CalendarColumns, ", "))})
				continue
			}
			switch v.Kind {
			case yaml.SequenceNode:
				var parts []string
				for _, c := range v.Content {
					parts = append(parts, c.Value)
				}
				e.fields[k.Value] = strings.Join(parts, ";")
			case yaml.ScalarNode:
				e.fields[k.Value] = strings.TrimSpace(v.Value)
			default:
				probs = append(probs, ImportProblem{File: file, Line: v.Line, Field: k.Value, Msg: "not a value"})
			}
		}
		out = append(out, e)
	}
	return out, probs
}
