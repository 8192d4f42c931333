// Package backend picks the GoMLX compute backend for flowerlib, in one place.
//
// Order: $GOMLX_BACKEND when set; otherwise XLA where a PJRT plugin is installed
// (CUDA first, then CPU); otherwise the pure-Go backend ("go"). Plugins are never
// auto-downloaded here: go-xla's installer would try the network and panic offline,
// so a missing plugin just means "use go".
package backend

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
	"github.com/gomlx/go-xla/compute/xla"  // registers "xla"
	"github.com/pkg/errors"
)

// EnvVar is the environment variable that forces a backend (GoMLX's own), e.g. "go", "xla:cpu", "xla:cuda".
const EnvVar = compute.ConfigEnvVar

var (
	mu      sync.Mutex
	cache   = map[string]compute.Backend{}
	printed = map[string]bool{}
)

// Choose returns the backend configuration that New would use for the given
// request: "" or "auto" means $GOMLX_BACKEND or, when unset, the best installed.
func Choose(request string) string {
	if request != "" && request != "auto" {
		return request
	}
	if env := os.Getenv(EnvVar); env != "" {
		return env
	}
	xla.EnableAutoInstall(false)
	plugins := xla.GetAvailablePlugins()
	for _, name := range []string{"cuda", "cpu"} {
		if slices.Contains(plugins, name) {
			return "xla:" + name
		}
	}
	return "go"
}

// New returns the backend for request (see Choose), created once per configuration and
// shared by every caller in the process. It reports the backend in use on w (once per
// configuration; pass nil for silence). Errors from the backend constructors, including
// their panics, come back as errors that say how to choose another backend.
func New(request string, w io.Writer) (b compute.Backend, err error) {
	config := Choose(request)
	mu.Lock()
	defer mu.Unlock()
	if b, ok := cache[config]; ok {
		return b, nil
	}
	if name, _, _ := cutConfig(config); name == "xla" {
		// Never download plugins implicitly: offline that panics deep inside go-xla.
		xla.EnableAutoInstall(false)
	}
	defer func() {
		if r := recover(); r != nil {
			err = errors.Errorf("backend %q: %v", config, r)
		}
		if err != nil {
			err = errors.WithMessagef(err, "cannot start GoMLX backend %q (set %s=go to use the pure-Go backend, "+
				"or install a PJRT plugin and point PJRT_PLUGIN_LIBRARY_PATH at it)", config, EnvVar)
		}
	}()
	b, err = compute.NewWithConfig(goSequential(config))
	if err != nil {
		return nil, err
	}
	cache[config] = b
	if w != nil && !printed[config] {
		printed[config] = true
		fmt.Fprintf(w, "GoMLX backend: %s (%s)\n", config, b.Description())
	}
	return b, nil
}

// goSequential makes the go backend run independent ops one at a time (each op still uses
// every core). With its default, two large matmuls running at once can each wait in
// workerspool.Saturate for the other's workers: a deadlock seen here while extracting
// ResNet50 features at 224² (GoMLX compute v0.1.2). "go:ops_parallel" opts back in.
func goSequential(config string) string {
	name, opts, _ := cutConfig(config)
	if name != "go" || strings.Contains(opts, "ops_parallel") || strings.Contains(opts, "ops_sequential") {
		return config
	}
	if opts == "" {
		return "go:ops_sequential"
	}
	return config + ",ops_sequential"
}

// MustNew is New that panics on error, for examples and notebooks.
func MustNew(request string, w io.Writer) compute.Backend {
	b, err := New(request, w)
	if err != nil {
		panic(err)
	}
	return b
}

// IsGo reports whether b is GoMLX's pure-Go backend, where flowerlib uses its own
// convolution path (XLA's native convolution is fast; the Go backend's is not).
func IsGo(b compute.Backend) bool { return strings.HasPrefix(b.Name(), "Go") } // gobackend names itself "Go Backend"

func cutConfig(config string) (name, rest string, found bool) { return strings.Cut(config, ":") }
