package sla

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// FileMaintenanceStore is the maintenance log as a JSON-lines file: one
// record per line, only ever appended and synced before Append returns.
// A torn last line (a crash mid-write) is cut off when the file is opened;
// any other unreadable line is an error naming the file and line, because
// an audit trail must not be skipped silently. One process owns the file.
type FileMaintenanceStore struct {
	path string
	now  func() time.Time

	mu  sync.Mutex
	f   *os.File
	log maintenanceLog
}

// OpenFileMaintenanceStore opens (creating if needed) the log at path. now
// stamps RecordedAt; nil means time.Now.
func OpenFileMaintenanceStore(path string, now func() time.Time) (*FileMaintenanceStore, error) {
	if now == nil {
		now = time.Now
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("maintenance log: %w", err)
	}
	s := &FileMaintenanceStore{path: path, now: now, f: f}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *FileMaintenanceStore) load() error {
	data, err := io.ReadAll(s.f)
	if err != nil {
		return fmt.Errorf("maintenance log %s: %w", s.path, err)
	}
	good := 0 // bytes of complete lines
	for line := 1; good < len(data); line++ {
		nl := bytes.IndexByte(data[good:], '\n')
		if nl < 0 {
			// Torn tail: the append that wrote it never returned.
			if err := s.f.Truncate(int64(good)); err != nil {
				return fmt.Errorf("maintenance log %s: cut torn line %d: %w", s.path, line, err)
			}
			break
		}
		raw := bytes.TrimSpace(data[good : good+nl])
		good += nl + 1
		if len(raw) == 0 {
			continue
		}
		var w MaintenanceWindow
		if err := json.Unmarshal(raw, &w); err != nil {
			return fmt.Errorf("%s:%d: maintenance record: %w", s.path, line, err)
		}
		s.log.add(w)
	}
	if _, err := s.f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("maintenance log %s: %w", s.path, err)
	}
	return nil
}

// Append implements MaintenanceStore.
func (s *FileMaintenanceStore) Append(_ context.Context, w MaintenanceWindow) (MaintenanceWindow, error) {
	if err := w.Validate(); err != nil {
		return w, err
	}
	w.RecordedAt = s.now()
	b, err := json.Marshal(w)
	if err != nil {
		return w, fmt.Errorf("maintenance window %q: %w", w.ID, err)
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return w, fmt.Errorf("maintenance log %s is closed", s.path)
	}
	if _, err := s.f.Write(b); err != nil {
		return w, fmt.Errorf("maintenance log %s: append %q: %w", s.path, w.ID, err)
	}
	if err := s.f.Sync(); err != nil {
		return w, fmt.Errorf("maintenance log %s: sync %q: %w", s.path, w.ID, err)
	}
	s.log.add(w)
	return w, nil
}

// Windows implements MaintenanceStore.
func (s *FileMaintenanceStore) Windows(_ context.Context, from, to time.Time) ([]MaintenanceWindow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.windows(from, to), nil
}

// History implements MaintenanceStore.
func (s *FileMaintenanceStore) History(_ context.Context, id string) ([]MaintenanceWindow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.history(id), nil
}

// Close closes the file.
func (s *FileMaintenanceStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
