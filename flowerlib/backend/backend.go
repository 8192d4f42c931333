// Package backend picks the GoMLX compute backend for flowerlib, in one place.
//
// Order: $GOMLX_BACKEND when set; otherwise XLA where a PJRT plugin is installed
// (CUDA first, then CPU); otherwise the pure-Go backend ("go"), with one line saying how to get
// the XLA CPU backend (InstallXLA, i.e. `flowers setup` or `bash kernel/install.sh --xla`),
// which trains faster (fine-tuning the base, the heads' steps). On both CPU backends the frozen
// base runs on the host (resnet50's host path, faster than either backend's convolutions).
// Plugins are never downloaded implicitly here: go-xla's auto-installer would try the network
// on every start and fail offline, so a missing plugin just means "use go".
package backend

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
	"github.com/gomlx/go-xla/compute/xla"  // registers "xla"
	"github.com/gomlx/go-xla/pjrt"
	"github.com/pkg/errors"
)

// EnvVar is the environment variable that forces a backend (GoMLX's own), e.g. "go", "xla:cpu", "xla:cuda".
const EnvVar = compute.ConfigEnvVar

// SetupHint is the one line printed when the automatic choice falls back to the pure-Go backend.
const SetupHint = "to fine-tune the base faster, with the XLA CPU backend, install its plugin once: `go run ./cmd/flowers setup` " +
	"in the flowers repository (or `bash kernel/install.sh --xla`; needs internet)"

var (
	mu      sync.Mutex
	cache   = map[string]compute.Backend{}
	printed = map[string]bool{}
)

// Choose returns the backend configuration that New would use for the given
// request: "" or "auto" means $GOMLX_BACKEND or, when unset, the best installed.
func Choose(request string) string {
	config, _ := choose(request)
	return config
}

// choose is Choose that also reports whether the configuration was picked automatically
// (no explicit request and no $GOMLX_BACKEND).
func choose(request string) (config string, auto bool) {
	if request != "" && request != "auto" {
		return request, false
	}
	if env := os.Getenv(EnvVar); env != "" {
		return env, false
	}
	return pick(Plugins()), true
}

// pick returns the best backend for the installed PJRT plugins: XLA on CUDA, else XLA on CPU,
// else "go". go-xla's installer names the CPU plugin with its version ("cpu_v0.114.0"),
// which the xla backend resolves from "cpu".
func pick(plugins []string) string {
	for _, name := range []string{"cuda", "cpu"} {
		if slices.ContainsFunc(plugins, func(p string) bool { return isPlugin(p, name) }) {
			return "xla:" + name
		}
	}
	return "go"
}

// isPlugin reports whether the plugin named p is the one for device ("cpu", "cuda"), versioned
// or not.
func isPlugin(p, device string) bool { return p == device || strings.HasPrefix(p, device+"_v") }

// HasXLACPU reports whether an XLA CPU plugin is installed where go-xla finds it (Plugins).
func HasXLACPU() bool {
	return slices.ContainsFunc(Plugins(), func(p string) bool { return isPlugin(p, "cpu") })
}

// Plugins lists the PJRT plugins go-xla finds now ($PJRT_PLUGIN_LIBRARY_PATH, else
// ~/.local/lib/go-xla, /usr/local/lib/go-xla and the system library folders), by name
// ("cpu", "cpu_v0.114.0", "cuda", ...). It never downloads anything and is not cached, so a
// plugin installed by InstallXLA is seen at once (in folders searched since process start).
func Plugins() []string {
	var names []string
	for name := range pjrt.AvailablePlugins() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// New returns the backend for request (see Choose), created once per configuration and
// shared by every caller in the process. It reports the backend in use on w (once per
// configuration; pass nil for silence). Errors from the backend constructors, including
// their panics, come back as errors that say how to choose another backend.
//
// When the choice was automatic, an XLA backend that fails to start falls back to "go"
// (reported in one line on w), and "go" chosen for want of a plugin comes with SetupHint.
func New(request string, w io.Writer) (compute.Backend, error) {
	config, auto := choose(request)
	b, err := newConfig(config, w, auto)
	if err != nil && auto && config != "go" {
		if w != nil {
			fmt.Fprintf(w, "GoMLX backend %s did not start (%v): using go instead\n", config, firstLine(err))
		}
		return newConfig("go", w, false)
	}
	return b, err
}

func newConfig(config string, w io.Writer, hint bool) (b compute.Backend, err error) {
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
		line := fmt.Sprintf("GoMLX backend: %s (%s)", config, b.Description())
		if hint && IsGo(b) {
			line += "; " + SetupHint
		}
		fmt.Fprintln(w, line)
	}
	return b, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
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

// IsXLACPU reports whether b is XLA on its CPU PJRT plugin ("cpu", or go-xla's installer's
// versioned "cpu_v0.114.0").
func IsXLACPU(b compute.Backend) bool {
	p, ok := b.(interface{ PluginName() string })
	return ok && isPlugin(p.PluginName(), "cpu")
}

func cutConfig(config string) (name, rest string, found bool) { return strings.Cut(config, ":") }
