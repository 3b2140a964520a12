package report_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/setsuden/setsuden/report"
)

func TestArchive(t *testing.T) {
	dir := t.TempDir()
	a, err := report.OpenArchive(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := generate(t, report.Filter{})
	at := time.Date(2025, 5, 2, 9, 0, 0, 0, tokyo)
	r1, err := a.Put(m, "ops", "", at)
	if err != nil || r1.Number != 1 || r1.Reason != "initial report" || r1.Previous != "" {
		t.Fatalf("first revision: %+v, %v", r1, err)
	}
	if r, err := a.Put(m, "ops", "again", at); !errors.Is(err, report.ErrUnchanged) || r.Number != 1 {
		t.Errorf("same report again: %+v, %v; want ErrUnchanged and revision 1", r, err)
	}
	m2 := m
	m2.AsOf = m.AsOf.Add(24 * time.Hour)
	if _, err := a.Put(m2, "ops", " ", at); err == nil || !strings.Contains(err.Error(), "needs a reason") {
		t.Errorf("recomputation without a reason: %v", err)
	}
	r2, err := a.Put(m2, "ops", "late probe data from the backup collector", at.Add(time.Hour))
	if err != nil || r2.Number != 2 || r2.Previous != r1.SHA256 {
		t.Fatalf("second revision: %+v, %v", r2, err)
	}
	revs, err := a.List("2025-04", "all")
	if err != nil || len(revs) != 2 || revs[1].Reason != "late probe data from the backup collector" {
		t.Errorf("list: %+v, %v", revs, err)
	}
	got, rev, err := a.Get("2025-04", "all", 0)
	if err != nil || rev.Number != 2 || !got.AsOf.Equal(m2.AsOf) || len(got.Services) != 3 {
		t.Errorf("get latest: rev %+v, %v", rev, err)
	}
	old, _, err := a.Get("2025-04", "all", 1)
	if err != nil || !old.AsOf.Equal(m.AsOf) || old.Services[1].Figures.Down != m.Services[1].Figures.Down {
		t.Errorf("get revision 1: %v", err)
	}
	// Revisions are read-only files; an altered one is detected.
	p := filepath.Join(dir, "2025-04", "all", "r0001.json")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("revision file mode %v, %v: want read-only", fi.Mode(), err)
	}
	data, _ := os.ReadFile(p)
	_ = os.Chmod(p, 0o644)
	_ = os.WriteFile(p, []byte(strings.Replace(string(data), `"site":"dc1"`, `"site":"dc9"`, 1)), 0o644)
	if _, _, err := a.Get("2025-04", "all", 1); err == nil || !strings.Contains(err.Error(), "altered") {
		t.Errorf("tampered revision: %v", err)
	}
	// Per-customer reports are their own series.
	acme := generate(t, report.Filter{Customer: "ACME"})
	if r, err := a.Put(acme, "ops", "", at); err != nil || r.Number != 1 || r.Scope != "ACME" {
		t.Errorf("customer report: %+v, %v", r, err)
	}
	if _, _, err := a.Get("2025-05", "all", 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing month: %v", err)
	}
}

func TestArchiveConcurrentWriters(t *testing.T) {
	a, _ := report.OpenArchive(t.TempDir())
	base := generate(t, report.Filter{Customer: "ACME"})
	// Revision 1 first, then four concurrent recomputations.
	if _, err := a.Put(base, "ops", "", base.AsOf); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	nums := make(chan int, 4)
	for i := 1; i <= 4; i++ {
		m := base
		m.AsOf = base.AsOf.Add(time.Duration(i) * time.Hour)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := a.Put(m, "ops", "recomputed", m.AsOf)
			if err != nil {
				t.Error(err)
				return
			}
			nums <- r.Number
		}()
	}
	wg.Wait()
	close(nums)
	seen := map[int]bool{}
	for n := range nums {
		if seen[n] {
			t.Errorf("revision %d written twice", n)
		}
		seen[n] = true
	}
	if revs, _ := a.List("2025-04", "ACME"); len(revs) != 5 {
		t.Errorf("%d revisions, want 5", len(revs))
	}
}
