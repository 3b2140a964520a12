package bmc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRedfish serves the DMTF's public-rackmount1 mockup documents
// (testdata/redfish-public-rackmount1, see SOURCE.md) with basic auth, and
// emulates ComputerSystem.Reset on the system's PowerState the way the
// DMTF mockup server does.
type fakeRedfish struct {
	t   *testing.T
	dir string

	mu         sync.Mutex
	power      string // PowerState of the one system
	graceful   bool   // does GracefulShutdown work (is there an OS agent)?
	resets     []string
	block      chan struct{} // non-nil: every request waits on it
	srv        *httptest.Server
	resetPaths []string
}

func newFakeRedfish(t *testing.T) *fakeRedfish {
	f := &fakeRedfish{t: t, dir: filepath.Join("testdata", "redfish-public-rackmount1"), power: "On", graceful: true}
	f.srv = httptest.NewTLSServer(f)
	t.Cleanup(func() {
		f.mu.Lock()
		if f.block != nil {
			close(f.block)
			f.block = nil
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *fakeRedfish) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path == "/redfish/v1" || r.URL.Path == "/redfish/v1/" {
		f.file(w, "index.json", nil) // the service root needs no auth
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != "root" || p != "calvin" {
		w.Header().Set("WWW-Authenticate", `Basic realm="redfish"`)
		http.Error(w, `{"error":{"code":"Base.1.8.InsufficientPrivilege"}}`, http.StatusUnauthorized)
		return
	}
	rel := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/redfish/v1/")
	if r.Method == http.MethodPost && strings.HasSuffix(rel, "/Actions/ComputerSystem.Reset") {
		var body struct{ ResetType string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.resets = append(f.resets, body.ResetType)
		f.resetPaths = append(f.resetPaths, r.URL.Path)
		switch body.ResetType {
		case "On", "ForceOn":
			f.power = "On"
		case "ForceOff":
			f.power = "Off"
		case "GracefulShutdown":
			if f.graceful {
				f.power = "Off"
			}
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f.file(w, filepath.Join(filepath.FromSlash(rel), "index.json"), func(doc map[string]any) {
		if rel == "Systems/437XR1138R2" {
			f.mu.Lock()
			doc["PowerState"] = f.power
			f.mu.Unlock()
		}
	})
}

func (f *fakeRedfish) file(w http.ResponseWriter, rel string, edit func(map[string]any)) {
	b, err := os.ReadFile(filepath.Join(f.dir, rel))
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		f.t.Errorf("mockup %s: %v", rel, err)
		http.Error(w, err.Error(), 500)
		return
	}
	if edit != nil {
		edit(doc)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

func TestRedfishAgainstDMTFMockup(t *testing.T) {
	f := newFakeRedfish(t)
	ctx := context.Background()
	b, err := NewRedfish(RedfishConfig{URL: f.srv.URL, User: "root", Password: "calvin", Insecure: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	on, err := b.PowerIsOn(ctx)
	if err != nil || !on {
		t.Fatalf("mockup's PowerState On read as on=%v err=%v", on, err)
	}
	if err := b.PowerOff(ctx, false); err != nil {
		t.Fatal(err)
	}
	if on, _ := b.PowerIsOn(ctx); on {
		t.Fatal("still on after GracefulShutdown")
	}
	if err := b.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.graceful = false // no OS agent: the soft off does nothing
	f.mu.Unlock()
	if err := b.PowerOff(ctx, false); err != nil {
		t.Fatal(err)
	}
	if on, _ := b.PowerIsOn(ctx); !on {
		t.Fatal("off although the graceful shutdown was ignored")
	}
	if err := b.PowerOff(ctx, true); err != nil {
		t.Fatal(err)
	}
	if on, _ := b.PowerIsOn(ctx); on {
		t.Fatal("on after ForceOff")
	}
	f.mu.Lock()
	resets, paths := strings.Join(f.resets, ","), f.resetPaths
	f.mu.Unlock()
	if resets != "GracefulShutdown,On,GracefulShutdown,ForceOff" {
		t.Errorf("resets %s", resets)
	}
	for _, p := range paths {
		if p != "/redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset" {
			t.Errorf("reset posted to %s, not the mockup's #ComputerSystem.Reset target", p)
		}
	}

	t.Run("a reset type the system does not allow", func(t *testing.T) {
		if err := b.reset(ctx, "x", "PowerCycle"); err == nil || !strings.Contains(err.Error(), "does not allow") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad, _ := NewRedfish(RedfishConfig{URL: f.srv.URL, User: "root", Password: "wrong", Insecure: true})
		_, err := bad.PowerIsOn(ctx)
		if err == nil {
			t.Fatal("wrong password accepted")
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("password in the error: %v", err)
		}
		t.Logf("%v", err)
	})
	t.Run("unknown system", func(t *testing.T) {
		bad, _ := NewRedfish(RedfishConfig{URL: f.srv.URL, User: "root", Password: "calvin", Insecure: true, System: "nope"})
		if _, err := bad.PowerIsOn(ctx); err == nil || !strings.Contains(err.Error(), "437XR1138R2") {
			t.Fatalf("err = %v, want the systems listed", err)
		}
	})
	t.Run("BMC not answering", func(t *testing.T) {
		f.mu.Lock()
		f.block = make(chan struct{})
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			close(f.block)
			f.block = nil
			f.mu.Unlock()
		}()
		slow, _ := NewRedfish(RedfishConfig{URL: f.srv.URL, User: "root", Password: "calvin", Insecure: true, Timeout: 300 * time.Millisecond})
		start := time.Now()
		if _, err := slow.PowerIsOn(ctx); err == nil {
			t.Fatal("a hung BMC answered")
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("gave up after %s, want about the 300 ms timeout", took)
		}
	})
	t.Run("certificate checked unless insecure", func(t *testing.T) {
		strict, _ := NewRedfish(RedfishConfig{URL: f.srv.URL, User: "root", Password: "calvin", Timeout: 2 * time.Second})
		if _, err := strict.PowerIsOn(ctx); err == nil {
			t.Fatal("self-signed certificate accepted without insecure")
		}
	})
}
