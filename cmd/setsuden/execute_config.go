package main

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// loadExecuteConfig reads `setsuden execute --config FILE`: the main
// configuration (its site: is a mapping; the executor: section and
// libvirt.hosts are used, validated like `setsuden run` does), or the
// executor's own file (docs/executor.example.yaml).
func loadExecuteConfig(path string) (*executorConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root struct {
		Site yaml.Node `yaml:"site"`
	}
	if err := yaml.Unmarshal(b, &root); err != nil || root.Site.Kind != yaml.MappingNode {
		return loadExecutorConfig(path)
	}
	cfg, err := loadConfig(path, false)
	if err != nil {
		return nil, err
	}
	c, err := executorConfigOf(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
