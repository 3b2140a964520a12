package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/setsuden/setsuden/config"
)

// TestCases: each folder under testdata holds an inventory.yaml and
// either expected.out ("ok") or expected.err (the problems, one a line).
func TestCases(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/*")
	if len(dirs) == 0 {
		t.Fatal("no cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "inventory.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(b, "inventory.yaml")
			if want, rerr := os.ReadFile(filepath.Join(dir, "expected.err")); rerr == nil {
				if err == nil {
					t.Fatalf("no error, want:\n%s", want)
				}
				if _, ok := err.(config.Problems); !ok {
					t.Fatalf("error %T, want config.Problems", err)
				}
				got := err.Error()
				if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
					t.Errorf("problems:\n%s\nwant:\n%s", got, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected problems:\n%v", err)
			}
		})
	}
}

func TestValidContent(t *testing.T) {
	f, err := Load("testdata/valid/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inv := f.Inventory
	if inv.PUE != 1.4 || len(inv.Hosts) != 3 || len(inv.VMs) != 3 || len(inv.Stages) != 1 {
		t.Fatalf("inventory %+v", inv)
	}
	if h := inv.Hosts[0]; h.SlopeW != 170 || h.BMC != "ipmi" {
		t.Errorf("h1 = %+v, want slope 170 from max_w 350 - idle 180", h)
	}
	if h := inv.Hosts[1]; h.PowerOnLatency.D().Minutes() != 3 {
		t.Errorf("h2 power-on latency %v", h.PowerOnLatency.D())
	}
	if v := inv.VMs[2]; !v.LocalDisk || v.LastMigrated.IsZero() {
		t.Errorf("db-1 = %+v", v)
	}
	if s := inv.Services[0]; s.ErrorBudgetRemaining == nil || *s.ErrorBudgetRemaining != 0.15 {
		t.Errorf("service %+v", s)
	}
	if f.Policy.CPUCeiling != 0.8 || f.Policy.PowerOnLatency.D().Minutes() != 4 {
		t.Errorf("policy %+v", f.Policy)
	}
}
