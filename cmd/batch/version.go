package main

import (
	"runtime/debug"
	"strings"
)

// commit is the git commit the binary was built from, set by `make build`
// (-ldflags "-X main.commit=..."); the build info's VCS stamp, when the
// toolchain wrote one, takes precedence.
var commit string

// versionString is what --version prints: the module version and the
// commit the binary was built from, e.g.
// "batch (devel) commit 1a2b3c4d5e6f 2026-12-01T20:00:00Z (modified)".
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "batch (no build information)"
	}
	var b strings.Builder
	b.WriteString("batch ")
	b.WriteString(bi.Main.Version)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		rev = commit
	}
	if rev == "" {
		b.WriteString(" commit unknown (built without VCS information)")
		return b.String()
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	b.WriteString(" commit " + rev)
	if t := settings["vcs.time"]; t != "" {
		b.WriteString(" " + t)
	}
	if settings["vcs.modified"] == "true" {
		b.WriteString(" (modified)")
	}
	return b.String()
}
