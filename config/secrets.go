package config

import (
	"fmt"
	"os"
)

// demandSecrets reports each demand webhook whose secret_env is not set in
// the environment (Options.RequireSecrets).
func (v *validator) demandSecrets(d Demand) {
	if !d.Enabled() {
		return
	}
	for i, w := range d.Webhooks {
		if w.SecretEnv == "" || !isEnvName(w.SecretEnv) {
			continue // none, or a bad name, which demand() reports
		}
		if s, ok := os.LookupEnv(w.SecretEnv); !ok || s == "" {
			v.add(fmt.Sprintf("demand.webhooks[%d].secret_env", i), "%s is not set in the environment (expected it to hold the webhook's HMAC key)", w.SecretEnv)
		}
	}
}
