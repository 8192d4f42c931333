package backend

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/installer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/pkg/errors"
)

// CPUPluginRelease is where go-xla's installer downloads XLA's CPU PJRT plugin from: the
// gomlx/pjrt-cpu-binaries GitHub release that go-xla v0.4.1 was tested with.
const CPUPluginRelease = "https://github.com/gomlx/pjrt-cpu-binaries/releases"

// InstallXLA installs XLA's official CPU PJRT plugin (and, on a machine with an NVIDIA GPU,
// the CUDA one) with go-xla's own installer, exactly as GoMLX auto-installs it: downloaded
// from GitHub releases into libDir/go-xla ("" = ~/.local/lib, which go-xla searches by
// default; /usr/local/lib is the system-wide folder it searches). It does nothing when the
// plugin is already there, then starts the xla:cpu backend and runs a small graph on it.
//
// It returns the plugin folder. Errors say what failed and what still works (the "go" backend).
func InstallXLA(libDir string, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	if libDir == "" {
		var err error
		if libDir, err = installer.DefaultHomeLibPath(); err != nil {
			return "", errors.Wrap(err, "finding the default plugin folder (pass a folder explicitly)")
		}
	}
	dir := filepath.Join(libDir, "go-xla")
	fmt.Fprintf(log, "installing XLA's CPU PJRT plugin into %s with go-xla's installer (from %s)\n", dir, CPUPluginRelease)
	if err := installer.AutoInstall(libDir, true, installer.Normal); err != nil {
		_ = removeStaleLocks(dir)
		return dir, errors.WithMessagef(err, "go-xla's installer could not install the XLA CPU plugin into %s "+
			"(it downloads from GitHub: no internet access?); flowerlib keeps using the pure-Go backend \"go\". "+
			"Offline, copy a pjrt_c_api_cpu_plugin.so (e.g. from the PyPI wheel lammps-jax-pjrt-cpu) into a folder "+
			"and export PJRT_PLUGIN_LIBRARY_PATH=that-folder", dir)
	}
	plugin, err := cpuPluginIn(dir)
	if err != nil {
		return dir, err
	}
	if err := checkPlugin(plugin); err != nil {
		return dir, err
	}
	fmt.Fprintf(log, "XLA CPU plugin ready: %s\n", plugin)
	if !searched(dir) {
		fmt.Fprintf(log, "note: go-xla does not search %s in this environment (PJRT_PLUGIN_LIBRARY_PATH=%q): "+
			"add it to PJRT_PLUGIN_LIBRARY_PATH for flowerlib to use it\n", dir, os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"))
	}
	return dir, nil
}

// cpuPluginIn returns the CPU plugin file go-xla's installer wrote into dir.
func cpuPluginIn(dir string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(dir, "pjrt_c_api_cpu*_plugin.so"))
	if len(matches) == 0 {
		return "", errors.Errorf("go-xla's installer reported success but %s holds no pjrt_c_api_cpu*_plugin.so", dir)
	}
	slices.Sort(matches)
	return matches[len(matches)-1], nil
}

// checkPlugin starts an XLA backend on the plugin file and runs a graph on it.
func checkPlugin(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.Errorf("%v", r)
		}
		if err != nil {
			err = errors.WithMessagef(err, "the XLA plugin %s does not work with go-xla v0.4.1 (remove it; flowerlib then uses \"go\")", path)
		}
	}()
	b, err := compute.NewWithConfig("xla:" + path)
	if err != nil {
		return err
	}
	defer b.Finalize()
	return runSmallGraph(b)
}

// searched reports whether go-xla looks for plugins in dir in this process's environment.
func searched(dir string) bool {
	if env, ok := os.LookupEnv("PJRT_PLUGIN_LIBRARY_PATH"); ok {
		return slices.Contains(strings.Split(env, ":"), dir)
	}
	home, _ := installer.DefaultHomeLibPath()
	return dir == filepath.Join(home, "go-xla") || dir == "/usr/local/lib/go-xla"
}

// removeStaleLocks removes the empty lock files a failed go-xla install leaves behind.
func removeStaleLocks(dir string) error {
	locks, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	for _, l := range locks {
		if st, err := os.Stat(l); err == nil && st.Size() == 0 {
			_ = os.Remove(l)
		}
	}
	return nil
}

// runSmallGraph checks that b compiles and runs a graph: Σx² of [1, 2, 3] must be 14.
func runSmallGraph(b compute.Backend) error {
	res, err := graph.CallOnce(b, func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(x, x)) }, []float32{1, 2, 3})
	if err != nil {
		return err
	}
	if got, ok := res.Value().(float32); !ok || got != 14 {
		return errors.Errorf("Σx² of [1 2 3] gave %v, want 14", res.Value())
	}
	return nil
}
