package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Revision describes one issued version of a report. Reports are never
// changed: a recomputation (late data, a corrected maintenance record) is
// a new revision with a reason, and each revision names the hash of the one
// before, so a silently edited file shows (research §5a "Final report ...
// immutable and versioned. A recalculation creates a new revision with a
// reason").
type Revision struct {
	Month     string    `json:"month"`
	Scope     string    `json:"scope"` // customer, or "all"
	Number    int       `json:"number"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Reason    string    `json:"reason"`
	// SHA256 of the report's JSON; Previous that of the revision before.
	SHA256   string `json:"sha256"`
	Previous string `json:"previous,omitempty"`
}

// ErrUnchanged is returned by Put when the report equals the latest revision.
var ErrUnchanged = errors.New("report unchanged since the latest revision")

// Archive keeps reports on disk as DIR/<month>/<scope>/r0001.json, ...,
// each written once (a new file linked into place, never overwritten) and
// read-only.
type Archive struct {
	dir string
}

type archived struct {
	Revision Revision        `json:"revision"` // first, so List reads only this
	Report   json.RawMessage `json:"report"`
}

// OpenArchive opens (creating) an archive directory.
func OpenArchive(dir string) (*Archive, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report archive: %w", err)
	}
	return &Archive{dir: dir}, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (a *Archive) path(month, scope string) (string, error) {
	if _, err := time.Parse("2006-01", month); err != nil {
		return "", fmt.Errorf("report archive: month %q (expected YYYY-MM)", month)
	}
	slug := strings.Trim(unsafeName.ReplaceAllString(scope, "_"), "._")
	if slug == "" {
		slug = "_"
	}
	return filepath.Join(a.dir, month, slug), nil
}

// Put stores m as the next revision of its month and scope. The first
// revision's reason defaults to "initial report"; every later one needs a
// reason. at is the time of issue (the caller's clock).
func (a *Archive) Put(m Monthly, by, reason string, at time.Time) (Revision, error) {
	dir, err := a.path(m.Month, m.Scope())
	if err != nil {
		return Revision{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Revision{}, fmt.Errorf("report archive: %w", err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return Revision{}, fmt.Errorf("report archive %s/%s: %w", m.Month, m.Scope(), err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	for attempt := 0; attempt < 5; attempt++ {
		revs, err := a.List(m.Month, m.Scope())
		if err != nil {
			return Revision{}, err
		}
		rev := Revision{Month: m.Month, Scope: m.Scope(), Number: 1, CreatedAt: at, CreatedBy: by, Reason: reason, SHA256: hash}
		if n := len(revs); n > 0 {
			last := revs[n-1]
			if last.SHA256 == hash {
				return last, ErrUnchanged
			}
			if strings.TrimSpace(reason) == "" {
				return Revision{}, fmt.Errorf("report archive %s/%s: revision %d needs a reason (what changed since revision %d)", m.Month, m.Scope(), last.Number+1, last.Number)
			}
			rev.Number, rev.Previous = last.Number+1, last.SHA256
		} else if rev.Reason == "" {
			rev.Reason = "initial report"
		}
		data, err := json.Marshal(archived{Revision: rev, Report: body})
		if err != nil {
			return Revision{}, fmt.Errorf("report archive: %w", err)
		}
		err = writeOnce(dir, fmt.Sprintf("r%04d.json", rev.Number), data)
		if errors.Is(err, os.ErrExist) {
			continue // another writer took this number; recount
		}
		if err != nil {
			return Revision{}, fmt.Errorf("report archive %s/%s: %w", m.Month, m.Scope(), err)
		}
		return rev, nil
	}
	return Revision{}, fmt.Errorf("report archive %s/%s: too many concurrent writers", m.Month, m.Scope())
}

// writeOnce writes data to dir/name without ever replacing an existing
// file: a temporary file is synced and hard-linked into place.
func writeOnce(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

var revFile = regexp.MustCompile(`^r(\d{4,})\.json$`)

// List returns the revisions of a month and scope ("all" or a customer),
// oldest first.
func (a *Archive) List(month, scope string) ([]Revision, error) {
	dir, err := a.path(month, scope)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report archive: %w", err)
	}
	var out []Revision
	for _, e := range entries {
		if !revFile.MatchString(e.Name()) {
			continue
		}
		rev, err := readRevision(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, rev)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func readRevision(path string) (Revision, error) {
	f, err := os.Open(path)
	if err != nil {
		return Revision{}, fmt.Errorf("report archive: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var rev Revision
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Revision{}, fmt.Errorf("report archive %s: not an archived report", path)
	}
	if tok, err := dec.Token(); err != nil || tok != "revision" {
		return Revision{}, fmt.Errorf("report archive %s: revision header missing", path)
	}
	if err := dec.Decode(&rev); err != nil {
		return Revision{}, fmt.Errorf("report archive %s: %w", path, err)
	}
	return rev, nil
}

// Get returns revision number of a month and scope (0: the latest),
// checking that the report still matches its recorded hash.
func (a *Archive) Get(month, scope string, number int) (Monthly, Revision, error) {
	dir, err := a.path(month, scope)
	if err != nil {
		return Monthly{}, Revision{}, err
	}
	if number == 0 {
		revs, err := a.List(month, scope)
		if err != nil {
			return Monthly{}, Revision{}, err
		}
		if len(revs) == 0 {
			return Monthly{}, Revision{}, fmt.Errorf("report archive: no report for %s/%s: %w", month, scope, os.ErrNotExist)
		}
		number = revs[len(revs)-1].Number
	}
	path := filepath.Join(dir, fmt.Sprintf("r%04d.json", number))
	f, err := os.Open(path)
	if err != nil {
		return Monthly{}, Revision{}, fmt.Errorf("report archive: %s/%s revision %d: %w", month, scope, number, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return Monthly{}, Revision{}, fmt.Errorf("report archive: %w", err)
	}
	var ar archived
	if err := json.Unmarshal(data, &ar); err != nil {
		return Monthly{}, Revision{}, fmt.Errorf("report archive %s: %w", path, err)
	}
	sum := sha256.Sum256(ar.Report)
	if hex.EncodeToString(sum[:]) != ar.Revision.SHA256 {
		return Monthly{}, ar.Revision, fmt.Errorf("report archive %s: content does not match its SHA-256 %s: the file was altered", path, ar.Revision.SHA256)
	}
	var m Monthly
	if err := json.Unmarshal(ar.Report, &m); err != nil {
		return Monthly{}, ar.Revision, fmt.Errorf("report archive %s: %w", path, err)
	}
	return m, ar.Revision, nil
}
