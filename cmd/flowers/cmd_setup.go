package main

import (
	"fmt"
	"os"

	"github.com/flowerlib/flowers/flowerlib/backend"
)

func init() {
	register("setup", "install XLA's CPU PJRT plugin (go-xla's installer, from GitHub) so flowerlib uses the fast xla:cpu backend", runSetup)
}

// runSetup installs the XLA CPU plugin with go-xla's installer and reports the backend
// flowerlib picks afterwards. Offline it fails with a message that says what still works.
func runSetup(args []string) error {
	fs := newFlags("setup", "[-dir LIBDIR] [-check]", "")
	dir := fs.String("dir", "", "library folder: the plugin goes to LIBDIR/go-xla (default ~/.local/lib; /usr/local/lib system-wide, both searched by go-xla)")
	check := fs.Bool("check", false, "only list the installed PJRT plugins and the backend flowerlib would pick; install nothing")
	if err := fs.parse(args); err != nil {
		return err
	}
	if !*check {
		if _, err := backend.InstallXLA(*dir, os.Stdout); err != nil {
			return err
		}
	}
	fmt.Printf("PJRT plugins found: %q; flowerlib's automatic backend: %s", backend.Plugins(), backend.Choose(""))
	if env := os.Getenv(backend.EnvVar); env != "" {
		fmt.Printf(" (forced by %s=%s)", backend.EnvVar, env)
	}
	fmt.Println()
	return nil
}
