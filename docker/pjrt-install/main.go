// Command pjrt-install downloads and installs go-xla's XLA CPU PJRT plugin (from the
// gomlx/pjrt-cpu-binaries GitHub releases, the version go-xla v0.4.1 expects) into
// DIR/go-xla, one of the folders go-xla searches (/usr/local/lib/go-xla by default), so that
// flowerlib/backend picks the "xla:cpu" backend. The Docker image runs it at build time;
// on a machine with internet it is:
//
//	go run ./docker/pjrt-install -dir ~/.local/lib
//
// It does nothing when the plugin is already there.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/go-xla/installer"
)

func main() {
	dir := flag.String("dir", "/usr/local/lib", "lib folder: the plugin goes to DIR/go-xla")
	flag.Parse()
	target := filepath.Join(*dir, "go-xla")
	if err := installer.CPUAutoInstall(target, true, installer.Verbose); err != nil {
		fmt.Fprintf(os.Stderr, "pjrt-install: installing the XLA CPU plugin into %s: %v\n"+
			"(it is downloaded from GitHub: this needs internet access)\n", target, err)
		os.Exit(1)
	}
	matches, _ := filepath.Glob(filepath.Join(target, "pjrt_c_api_cpu_*"))
	fmt.Printf("XLA CPU PJRT plugin installed in %s: %v\n", target, matches)
}
