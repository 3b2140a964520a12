package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

func versionString() string {
	rev, dirty := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
	}
	return fmt.Sprintf("setsuden %s (commit %s%s, %s, %s/%s)", version, rev, dirty, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
