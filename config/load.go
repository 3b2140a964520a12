package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Options are what a command asks of a configuration beyond its own rules.
type Options struct {
	// KnownModel says whether a meter model exists; nil accepts any name.
	KnownModel func(name string) bool
	// RequireInflux makes influx.url required (`setsuden run` writes to
	// InfluxDB; `demo` starts its own).
	RequireInflux bool
	// Models, when set, is called with the resolved modbus.model_dirs (those
	// that exist) and returns every known model name; device models are then
	// checked against it (and the problem lists them), and its error becomes
	// a problem on modbus.model_dirs. It overrides KnownModel.
	Models func(dirs []string) ([]string, error)
	// RequireSecrets makes every secret_env (demand.webhooks[]) a problem
	// when the variable is unset or empty, as `run` fails on it at start;
	// `validate` and `run` set it, the reading commands do not.
	RequireSecrets bool

	modelNames []string
}

// Load reads the configuration file at path; see Parse.
func Load(path string, opt Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data, opt)
}

// Parse decodes a configuration file's content, fills in the defaults,
// resolves it and validates it. file names the file in problems, and
// relative paths in the file (model_dirs, token_file, queue_dir) are taken
// relative to its directory.
//
// Resolving expands ${VAR} in influx.url, token, org and bucket from the
// environment and reads influx.token_file into Token.
//
// On any problem Parse returns a nil Config and Problems: all of them,
// each with file and line, sorted by line.
func Parse(file string, data []byte, opt Options) (*Config, error) {
	root, prob := parseYAML(data)
	if prob != nil {
		prob.File = file
		return nil, Problems{*prob}
	}
	d := newDecoder()
	d.lines[""] = root.Line
	cfg := Default()
	d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
	d.resolve(&cfg, filepath.Dir(file))
	if opt.Models != nil {
		var dirs []string
		for _, dir := range cfg.Modbus.ModelDirs {
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				dirs = append(dirs, dir)
			}
		}
		names, err := opt.Models(dirs)
		if err != nil {
			d.fail("modbus.model_dirs", "%v (expected valid model files)", err)
		} else {
			known := make(map[string]bool, len(names))
			for _, n := range names {
				known[n] = true
			}
			opt.KnownModel = func(n string) bool { return known[n] }
			opt.modelNames = names
		}
	}
	for _, p := range cfg.Validate(opt) {
		if d.reported(p.Path) {
			continue
		}
		p.Line = d.lineOf(p.Path)
		d.probs = append(d.probs, p)
	}
	if len(d.probs) > 0 {
		for i := range d.probs {
			d.probs[i].File = file
		}
		d.probs.sortByLine()
		return nil, d.probs
	}
	return &cfg, nil
}

// resolve makes relative paths relative to dir, expands environment
// variables and reads the token file.
func (d *decoder) resolve(c *Config, dir string) {
	for i, p := range c.Modbus.ModelDirs {
		c.Modbus.ModelDirs[i] = relativeTo(dir, p)
	}
	c.Influx.TokenFile = relativeTo(dir, c.Influx.TokenFile)
	c.Tariff.AdjustmentsFile = relativeTo(dir, c.Tariff.AdjustmentsFile)
	c.Tariff.VMLabels = relativeTo(dir, c.Tariff.VMLabels)
	c.Influx.QueueDir = relativeTo(dir, c.Influx.QueueDir)
	c.Demand.resolvePaths(dir)

	for _, f := range []struct {
		path string
		s    *string
	}{
		{"influx.url", &c.Influx.URL},
		{"influx.token", &c.Influx.Token},
		{"influx.org", &c.Influx.Org},
		{"influx.bucket", &c.Influx.Bucket},
	} {
		expanded, unset := expandEnv(*f.s)
		for _, name := range unset {
			d.fail(f.path, "${%s} is not set in the environment (expected it to hold the value)", name)
		}
		*f.s = expanded
	}

	d.resolveServer(c)
	for i := range c.Obix.Gateways {
		g := &c.Obix.Gateways[i]
		p := fmt.Sprintf("obix.gateways[%d]", i)
		g.PasswordFile = relativeTo(dir, g.PasswordFile)
		for _, f := range []struct {
			key string
			s   *string
		}{{"url", &g.URL}, {"username", &g.Username}, {"password", &g.Password}} {
			expanded, unset := expandEnv(*f.s)
			for _, name := range unset {
				d.fail(p+"."+f.key, "${%s} is not set in the environment (expected it to hold the value)", name)
			}
			*f.s = expanded
		}
		if g.PasswordFile != "" && g.Password == "" {
			data, err := os.ReadFile(g.PasswordFile)
			if err != nil {
				d.fail(p+".password_file", "cannot be read: %v (expected a readable file holding the password)", err)
			} else {
				g.Password, g.PasswordFile = strings.TrimSpace(string(data)), ""
			}
		}
	}

	if c.Influx.TokenFile == "" || c.Influx.Token != "" {
		return // nothing to read, or both set, which Validate reports
	}
	data, err := os.ReadFile(c.Influx.TokenFile)
	if err != nil {
		d.fail("influx.token_file", "cannot be read: %v (expected a readable file holding the token)", err)
		return
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		d.fail("influx.token_file", "%s is empty (expected a file holding the token)", c.Influx.TokenFile)
		return
	}
	c.Influx.Token, c.Influx.TokenFile = token, ""
}

func relativeTo(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// expandEnv replaces every ${NAME} in s with the environment variable NAME
// and lists the names that are not set. Anything else, a lone $ included,
// stays as written, so passwords may contain $.
func expandEnv(s string) (string, []string) {
	var b strings.Builder
	var unset []string
	for {
		start := strings.Index(s, "${")
		if start < 0 {
			break
		}
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			break
		}
		name := s[start+2 : start+end]
		if !isEnvName(name) {
			b.WriteString(s[:start+2])
			s = s[start+2:]
			continue
		}
		b.WriteString(s[:start])
		value, ok := os.LookupEnv(name)
		if !ok {
			unset = append(unset, name)
		}
		b.WriteString(value)
		s = s[start+end+1:]
	}
	b.WriteString(s)
	return b.String(), unset
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
