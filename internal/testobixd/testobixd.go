// Package testobixd starts obixd, the oBIX test gateway
// (adapters/obix/testdata/obixd/obixd.py), in its own process for tests.
// Under `go test -short` tests that need it are skipped.
package testobixd

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Python is the interpreter obixd runs on: Debian's, standard library only.
const Python = "/usr/bin/python3"

// Gateway is one running obixd.
type Gateway struct {
	URL string // base, http://127.0.0.1:PORT (the Lobby is URL+"/obix/")
	cmd *exec.Cmd
}

// Script is the path of obixd.py.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "adapters", "obix", "testdata", "obixd", "obixd.py")
}

// Start starts obixd with flags (see obixd.py --help) and stops it when
// the test ends.
func Start(t testing.TB, flags ...string) *Gateway {
	t.Helper()
	if testing.Short() {
		t.Skip("starts obixd; skipped with -short")
	}
	if _, err := os.Stat(Python); err != nil {
		t.Fatalf("obixd needs %s: %v", Python, err)
	}
	cmd := exec.Command(Python, append([]string{Script()}, flags...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if port, ok := strings.CutPrefix(sc.Text(), "obixd listening on "); ok {
				ready <- port
			}
		}
		close(ready)
	}()
	select {
	case port, ok := <-ready:
		if !ok {
			t.Fatal("obixd exited before listening")
		}
		return &Gateway{URL: "http://127.0.0.1:" + port, cmd: cmd}
	case <-time.After(30 * time.Second):
		t.Fatal("obixd did not start within 30 s")
	}
	return nil
}

// Ctl calls one of obixd's /_ctl/ controls with key, value pairs and
// returns its answer.
func (g *Gateway) Ctl(t testing.TB, path string, params ...string) string {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	resp, err := http.Get(g.URL + "/_ctl/" + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("obixd /_ctl/%s: %s: %s", path, resp.Status, body)
	}
	return string(body)
}
