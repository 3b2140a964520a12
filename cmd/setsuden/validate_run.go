package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/adapters/modbus"
	"github.com/setsuden/setsuden/config"
)

// loadRunConfig loads a configuration as `run` needs it, with everything
// `run` would fail on at start reported as FILE:LINE: field problems: the
// checks of loadConfig, and the environment's secrets (demand and SLA
// webhooks' secret_env) and the SLA section's record paths. `validate`
// uses it too, so that a file it passes starts.
func loadRunConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path, config.Options{RequireInflux: true, RequireSecrets: true, Models: func(dirs []string) ([]string, error) {
		models, err := modbus.LoadModels(dirs...)
		if err != nil {
			return nil, err
		}
		return models.Names(), nil
	}})
	var probs config.Problems
	switch {
	case errors.As(err, &probs):
		// Add the sla section's problems, so that all come at once.
		if n := fileSLASection(path); n != nil {
			probs = append(probs, slaProblems(path, &config.Config{SLA: n})...)
			probs = append(probs, slaRunProblems(path, n)...)
			sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		}
		return nil, probs
	case err != nil:
		return nil, err
	}
	probs = append(slaProblems(path, cfg), slaRunProblems(path, cfg.SLA)...)
	probs = append(probs, shedRunProblems(path, cfg)...)
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// fileSLASection is the sla: node of the YAML file at path, nil if there
// is none or the file does not parse (config.Load reported that).
func fileSLASection(path string) *yaml.Node {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	return yamlAt(&root, "sla")
}

// slaRunProblems are what newSLAWiring fails on in a section that decodes:
// no place for its records, and unset webhook secrets.
func slaRunProblems(file string, n *yaml.Node) config.Problems {
	if n == nil {
		return nil
	}
	sc, err := decodeSLA(file, n)
	if err != nil {
		return nil // slaProblems reported it
	}
	var probs config.Problems
	if err := needSLAFiles(file, n, sc.Files, true, true); err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			probs = append(probs, ps...)
		}
	}
	for i, h := range sc.Alerts.Webhooks {
		if h.SecretEnv == "" {
			continue
		}
		if s, ok := os.LookupEnv(h.SecretEnv); ok && s != "" {
			continue
		}
		line := n.Line
		if v := yamlAt(n, "alerts", "webhooks", i, "secret_env"); v != nil {
			line = v.Line
		}
		probs = append(probs, config.Problem{File: file, Line: line, Path: fmt.Sprintf("sla.alerts.webhooks[%d].secret_env", i),
			Msg: fmt.Sprintf("%s is not set in the environment (expected it to hold the webhook's HMAC key)", h.SecretEnv)})
	}
	return probs
}

// yamlAt follows mapping keys (string) and sequence indexes (int) from n;
// nil when the path is not there.
func yamlAt(n *yaml.Node, path ...any) *yaml.Node {
	for _, step := range path {
		if n == nil {
			return nil
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		switch s := step.(type) {
		case string:
			var next *yaml.Node
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
					}
				}
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || s >= len(n.Content) {
				return nil
			}
			n = n.Content[s]
		}
	}
	return n
}
