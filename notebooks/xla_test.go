package notebooks_test

import (
	"os"
	"path/filepath"
	"strings"
)

// xlaCPUPluginDir returns the folder of an XLA CPU PJRT plugin that go-xla will find: one on
// $PJRT_PLUGIN_LIBRARY_PATH (.ci/venv.sh), else go-xla's default folders (flowers setup).
func xlaCPUPluginDir() string {
	dirs := strings.Split(os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"), ":")
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		home, _ := os.UserHomeDir()
		dirs = []string{filepath.Join(home, ".local", "lib", "go-xla"), "/usr/local/lib/go-xla"}
	}
	for _, d := range dirs {
		if m, _ := filepath.Glob(filepath.Join(d, "pjrt_c_api_cpu*_plugin.so")); d != "" && len(m) > 0 {
			return d
		}
	}
	return ""
}
