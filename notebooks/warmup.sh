#!/usr/bin/env bash
# warmup.sh is run by the notebooks' first cell, in GoNB's temporary module (after its
# `go mod edit` pins flowerlib and GoMLX): it compiles flowerlib (and GoMLX under it), once,
# and says so, so that the first Go cell does not sit silent for minutes. GoNB builds every
# cell with plain `go build` and the kernel's environment, so this fills the same build cache.
set -euo pipefail
export GOFLAGS=-mod=mod # GoNB's module has no go.sum yet: let go fill it, as GoNB's `go get` does
# Every flowerlib package: whatever the cells import is among them (and a rename cannot leave
# this list behind). Listed from the module's folder with find -L, not with the pattern
# flowerlib/..., which skips folders reached through symbolic links (the tests' copies of the
# repository link to it).
mod="github.com/flowerlib/flowers"
dir="$(go list -m -f '{{.Dir}}' "$mod")"
pkgs="$(cd "$dir" && find -L flowerlib -name '*.go' ! -name '*_test.go' ! -path '*/testdata/*' -exec dirname {} + | sort -u | sed "s|^|$mod/|" | tr '\n' ' ')"
[ -n "$pkgs" ] || { echo "warmup.sh: no flowerlib packages under $dir" >&2; exit 1; }
if [ "$(go list -f '{{.Stale}}' $pkgs | sort -u | tr -d '\n')" = false ]; then
	echo "flowerlib and GoMLX are already compiled (Go's build cache): each cell starts in seconds."
	exit 0
fi
echo "Compiling GoMLX and flowerlib (GOEXPERIMENT=${GOEXPERIMENT:-}) once: a few minutes on a laptop, then Go's build cache keeps them..."
start=$(date +%s)
go build $pkgs
echo "compiled in $(($(date +%s) - start))s: from now on each cell starts in seconds."
