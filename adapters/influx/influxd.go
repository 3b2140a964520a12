package influx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Influxd is a local InfluxDB 1.8 server (influxd) that setsuden supervises:
// the demo's database and the tests' real peer. InfluxDB 1.8.10 serves the
// v2 write API and Flux (flux-enabled = true), which is what the client and
// the dashboards use (shared/deps.md section 5).
type Influxd struct {
	// URL is the HTTP endpoint, e.g. http://127.0.0.1:39123.
	URL string
	// Database is the database created at start; the v2 bucket is Database+"/autogen".
	Database string

	dir     string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	logFile *os.File
}

// InfluxdConfig says how to start a local influxd.
type InfluxdConfig struct {
	Binary   string // path to influxd; see FindInfluxd
	Dir      string // data directory (meta, data, wal, log live under it)
	Database string // created after start; default "setsuden"
	// Port is the HTTP port; 0 picks a free loopback port.
	Port int
}

// FindInfluxd returns the influxd binary to use: $SETSUDEN_INFLUXD, then
// .tools/bin/influxd in the working directory or any parent (where `make`
// builds it), then influxd on PATH.
func FindInfluxd() (string, error) {
	if p := os.Getenv("SETSUDEN_INFLUXD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SETSUDEN_INFLUXD=%s: %w", p, err)
		}
		return p, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			p := filepath.Join(d, ".tools", "bin", "influxd")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	return "", errors.New("influxd not found: set SETSUDEN_INFLUXD, or run `make tools` to build .tools/bin/influxd (InfluxDB v1.8.10)")
}

// StartInfluxd starts influxd on loopback, waits until it answers /health,
// and creates the database. The process is put in its own process group and
// is killed if setsuden dies (Pdeathsig), so it never outlives its parent.
func StartInfluxd(ctx context.Context, cfg InfluxdConfig) (*Influxd, error) {
	if cfg.Database == "" {
		cfg.Database = "setsuden"
	}
	if cfg.Binary == "" {
		b, err := FindInfluxd()
		if err != nil {
			return nil, err
		}
		cfg.Binary = b
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("influxd data dir %q: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("influxd data dir: %w", err)
	}
	// A free port can be taken between our probe and influxd's bind; retry.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		httpPort, rpcPort := cfg.Port, 0
		if httpPort == 0 {
			if httpPort, err = freePort(); err != nil {
				return nil, err
			}
		}
		if rpcPort, err = freePort(); err != nil {
			return nil, err
		}
		d, err := startInfluxdOnce(ctx, cfg, dir, httpPort, rpcPort)
		if err == nil {
			return d, nil
		}
		lastErr = err
		if cfg.Port != 0 || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startInfluxdOnce(ctx context.Context, cfg InfluxdConfig, dir string, httpPort, rpcPort int) (*Influxd, error) {
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	confPath := filepath.Join(dir, "influxd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write influxd config: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("influxd log: %w", err)
	}
	cmd := exec.Command(cfg.Binary, "-config", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	d := &Influxd{
		URL:      fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		Database: cfg.Database,
		dir:      dir,
		cmd:      cmd,
		done:     make(chan struct{}),
		logFile:  logFile,
	}
	go func() { d.waitErr = cmd.Wait(); close(d.done) }()

	if err := d.waitHealthy(ctx, 30*time.Second); err != nil {
		_ = d.Stop()
		return nil, fmt.Errorf("influxd on port %d did not become healthy (log: %s): %w", httpPort, logFile.Name(), err)
	}
	if err := d.Exec(ctx, "CREATE DATABASE "+quoteIdent(cfg.Database)); err != nil {
		_ = d.Stop()
		return nil, err
	}
	// The free port we probed can be taken by another influxd between our
	// probe and its bind (test packages run in parallel): ours then exits,
	// yet /health and CREATE DATABASE were answered by the other one. Only
	// our own meta store holding the database proves the server is ours.
	if err := d.ownsDatabase(filepath.Join(dir, "meta", "meta.db"), cfg.Database); err != nil {
		_ = d.Stop()
		return nil, fmt.Errorf("influxd on port %d: %w", httpPort, err)
	}
	return d, nil
}

func (d *Influxd) ownsDatabase(metaFile, db string) error {
	for deadline := time.Now().Add(3 * time.Second); ; {
		select {
		case <-d.done:
			return fmt.Errorf("influxd exited (port taken by another process?): %v", d.waitErr)
		default:
		}
		if b, err := os.ReadFile(metaFile); err == nil && bytes.Contains(b, []byte(db)) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database %q is not in %s: another server answered on this port", db, metaFile)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Dir is the data directory.
func (d *Influxd) Dir() string { return d.dir }

// Bucket is the v2-compatibility bucket name of the database.
func (d *Influxd) Bucket() string { return d.Database + "/autogen" }

// Done is closed when the influxd process has exited.
func (d *Influxd) Done() <-chan struct{} { return d.done }

// Pid of the influxd process.
func (d *Influxd) Pid() int { return d.cmd.Process.Pid }

func (d *Influxd) waitHealthy(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/health", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.done:
			return fmt.Errorf("influxd exited: %v", d.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Exec runs an InfluxQL statement (administration: CREATE/DROP DATABASE).
func (d *Influxd) Exec(ctx context.Context, q string) error {
	form := url.Values{"q": {q}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxql %q: %w", q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("influxql %q: HTTP %s", q, resp.Status)
	}
	return nil
}

// Stop terminates influxd (SIGTERM, then SIGKILL after 10 s) and waits.
func (d *Influxd) Stop() error {
	defer d.logFile.Close()
	select {
	case <-d.done:
		return nil
	default:
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
	return nil
}

// Kill stops influxd abruptly (SIGKILL), as in a crash; fault tests use it.
func (d *Influxd) Kill() {
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
