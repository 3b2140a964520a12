package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/setsuden/setsuden/adapters/modbus"
	"github.com/setsuden/setsuden/config"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "setsuden validate: --config FILE is required")
		return 2
	}
	_, err := loadRunConfig(*path)
	var probs config.Problems
	switch {
	case errors.As(err, &probs):
		for _, p := range probs {
			fmt.Fprintln(stdout, p.String())
		}
		return 1
	case err != nil:
		fmt.Fprintf(stdout, "%s: %v\n", *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

// loadConfig loads and validates a file, checking model names against the
// built-in models and those in the configured model_dirs.
func loadConfig(path string, requireInflux bool) (*config.Config, error) {
	cfg, err := config.Load(path, config.Options{RequireInflux: requireInflux, Models: func(dirs []string) ([]string, error) {
		models, err := modbus.LoadModels(dirs...)
		if err != nil {
			return nil, err
		}
		return models.Names(), nil
	}})
	if err != nil {
		return nil, err
	}
	// The sla: section is decoded by rules/sla, with the same problems.
	if probs := slaProblems(path, cfg); len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// reportProblems prints every configuration problem of err, one a line, to
// w and returns an error that counts them; any other error is returned as
// it is.
func reportProblems(w io.Writer, path string, err error) error {
	var probs config.Problems
	if !errors.As(err, &probs) {
		return err
	}
	for _, p := range probs {
		fmt.Fprintln(w, p.String())
	}
	return fmt.Errorf("%d configuration problem(s) in %s", len(probs), path)
}
