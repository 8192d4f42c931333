#!/usr/bin/env bash
# install.sh installs what the flowers notebooks need: JupyterLab 4 (a system one, else an
# environment of flowers' own, pinned, outside the repository: kernel/jupyterlab.sh), the GoNB
# kernel (pinned in kernel/tools/go.mod) with goimports and gopls, and a kernelspec whose
# environment lets a notebook cell `import "github.com/flowerlib/flowers/flowerlib/..."` with no
# manual step. Then `bash kernel/lab.sh` opens the walkthrough.
#
#   bash kernel/install.sh [--apt] [--xla] [--notebook] [--check] [--force] [--bin DIR] [--name NAME] [--backend B]
#
#   --apt        first install the Debian packages in kernel/apt-packages.txt (apt-get, sudo if needed)
#   --xla        also install XLA's CPU PJRT plugin (`flowers setup`: go-xla's installer, from GitHub)
#                into ~/.local/lib/go-xla (or $FLOWERS_XLA_LIBDIR/go-xla): flowerlib then uses the
#                fast xla:cpu backend; where the download fails the notebooks run on the go backend
#   --notebook   classic Notebook (Debian's jupyter-notebook) instead of JupyterLab 4
#   --check      only check the prerequisites, install nothing
#   --force      rebuild the tools even when the pinned versions are already there
#   --bin DIR    where to put gonb, goimports, gopls (default $GOBIN, else $(go env GOPATH)/bin)
#   --name NAME  kernelspec name (default flowers-gonb; the notebooks ask for it)
#   --backend B  set GOMLX_BACKEND in the kernel (go, xla:cpu, xla:cuda); default: unset, so
#                flowerlib/backend picks XLA when a PJRT plugin is installed, else go
#
# JupyterLab: $JUPYTER when set (any jupyter command: the kernel is registered with it); else a
# JupyterLab 4 on PATH; else flowers' own environment in $FLOWERS_JUPYTERLAB_DIR (default
# ~/.local/share/flowers/jupyterlab), made once with Python's venv and pip at the versions of
# .ci/requirements-test.txt and reused on the next run.
# The kernelspec goes to $JUPYTER_DATA_DIR/kernels/NAME (default: `jupyter --data-dir`, the
# user's folder, which every Jupyter of the user reads).
# Running it again is safe: tools already built at the pinned versions are kept.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

GONB_VERSION=v0.11.4    # also in tools/go.mod
TOOLS_VERSION=v0.45.0   # golang.org/x/tools (goimports), also in tools/go.mod
GOPLS_VERSION=v0.23.0   # gopls@latest needs Go 1.27
GO_MIN_MINOR=26         # Go 1.26 (GOEXPERIMENT=simd)
NAME=flowers-gonb
BIN=""
BACKEND="${FLOWERS_KERNEL_BACKEND:-}"
APT=0
XLA=0
FRONTEND=lab
CHECK=0
FORCE=0

die() { echo "kernel/install.sh: $*" >&2; exit 1; }
say() { echo "kernel/install.sh: $*"; }

while [ $# -gt 0 ]; do
	case "$1" in
	--apt) APT=1 ;;
	--xla) XLA=1 ;;
	--notebook) FRONTEND=notebook ;;
	--check) CHECK=1 ;;
	--force) FORCE=1 ;;
	--bin) BIN="${2:?--bin needs a directory}"; shift ;;
	--bin=*) BIN="${1#--bin=}" ;;
	--name) NAME="${2:?--name needs a name}"; shift ;;
	--name=*) NAME="${1#--name=}" ;;
	--backend) BACKEND="${2:?--backend needs a value}"; shift ;;
	--backend=*) BACKEND="${1#--backend=}" ;;
	-h | --help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done
case "$NAME" in *[!a-zA-Z0-9._-]* | "") die "--name $NAME: use letters, digits, '.', '_' or '-'" ;; esac

apt_packages() { grep -v '^[[:space:]]*#' "$here/apt-packages.txt" | tr -s ' \n' ' '; }

if [ "$APT" = 1 ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	say "installing Debian packages: $(apt_packages)"
	$sudo apt-get update -qq
	# shellcheck disable=SC2046
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(apt_packages)
fi

# --- prerequisites --------------------------------------------------------------------------
missing=0
GO="$(command -v go || true)"
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
if [ -z "$GO" ]; then
	echo "MISSING: Go 1.$GO_MIN_MINOR or newer. Install it from https://go.dev/dl/ (Debian's golang package is too old):" >&2
	echo "  curl -fsSL https://go.dev/dl/go1.26.8.linux-amd64.tar.gz | sudo tar -C /usr/local -xz && export PATH=/usr/local/go/bin:\$PATH" >&2
	missing=1
else
	gover="$("$GO" env GOVERSION)" # e.g. go1.26.8
	minor="$(echo "$gover" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
	if [ -z "$minor" ] || [ "$minor" -lt "$GO_MIN_MINOR" ]; then
		echo "MISSING: Go 1.$GO_MIN_MINOR or newer; $GO is $gover. Install a newer one from https://go.dev/dl/." >&2
		missing=1
	fi
fi
# shellcheck source=kernel/jupyterlab.sh
source "$here/jupyterlab.sh"
JUPYTER="${JUPYTER:-}"
USER_JUPYTER="$JUPYTER"
MAKE_LAB=0
if [ -n "$JUPYTER" ]; then
	if ! command -v "$JUPYTER" >/dev/null 2>&1; then
		echo "MISSING: \$JUPYTER=$JUPYTER is not a program: point it at a jupyter command, or unset it (JupyterLab 4 is then found, or made: bash kernel/install.sh --apt)." >&2
		missing=1
	fi
elif [ "$FRONTEND" = notebook ]; then
	if [ -x /usr/bin/jupyter ]; then JUPYTER=/usr/bin/jupyter; else JUPYTER="$(command -v jupyter || true)"; fi
	if [ -z "$JUPYTER" ] || ! "$JUPYTER" notebook --version >/dev/null 2>&1; then
		echo "MISSING: classic Notebook (--notebook). On Debian/Ubuntu:" >&2
		echo "  sudo apt-get install -y --no-install-recommends $(apt_packages)" >&2
		echo "  (or: bash kernel/install.sh --apt --notebook; or leave out --notebook for JupyterLab 4)" >&2
		missing=1
	fi
elif ! JUPYTER="$(system_jupyterlab)"; then
	JUPYTER=""
	MAKE_LAB=1 # after the checks: flowers' own JupyterLab environment (made, reused or remade)
fi
if [ "$missing" = 1 ]; then die "prerequisites missing (see above)"; fi
if [ "$MAKE_LAB" = 1 ]; then
	if [ "$CHECK" = 1 ]; then
		py="$(lab_python)" || die "prerequisites missing (see above)"
		say "Go: $GO ($gover); JupyterLab 4: none on PATH; flowers' own in $FLOWERS_LAB_DIR ($py)"
		exit 0
	fi
	JUPYTER="$(make_jupyterlab)" || die "prerequisites missing (see above)"
fi
say "Go: $GO ($gover); Jupyter: $JUPYTER"
if [ "$CHECK" = 1 ]; then exit 0; fi

# --- tools ----------------------------------------------------------------------------------
if [ -z "$BIN" ]; then BIN="$("$GO" env GOBIN)"; fi
if [ -z "$BIN" ]; then BIN="$("$GO" env GOPATH)/bin"; fi
mkdir -p "$BIN"
BIN="$(cd "$BIN" && pwd)"

# has_version BINARY MODULE VERSION: the binary exists and was built from MODULE@VERSION.
has_version() {
	[ -x "$1" ] && "$GO" version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]*(mod|dep)[[:space:]]+$2[[:space:]]+$3([[:space:]]|\$)"
}

build_tool() { # build_tool NAME MODULE VERSION COMMAND...
	local name="$1" module="$2" version="$3"
	shift 3
	if [ "$FORCE" = 0 ] && has_version "$BIN/$name" "$module" "$version"; then
		say "$name: $BIN/$name is already $module@$version"
		return
	fi
	say "building $name ($module@$version) into $BIN (the first build takes minutes)"
	"$@"
	has_version "$BIN/$name" "$module" "$version" || die "$BIN/$name was not built from $module@$version"
}

# GOFLAGS from the caller (e.g. -mod=vendor) must not leak into the tools' builds.
export GOFLAGS="-mod=readonly -buildvcs=false"
(cd "$here/tools" && build_tool gonb github.com/janpfeifer/gonb "$GONB_VERSION" \
	"$GO" build -trimpath -o "$BIN/gonb" github.com/janpfeifer/gonb)
(cd "$here/tools" && build_tool goimports golang.org/x/tools "$TOOLS_VERSION" \
	"$GO" build -trimpath -o "$BIN/goimports" golang.org/x/tools/cmd/goimports)
# gopls is its own module: installing it by exact version uses its own go.mod pins.
(cd "$here/tools" && GOBIN="$BIN" build_tool gopls golang.org/x/tools/gopls "$GOPLS_VERSION" \
	"$GO" install -trimpath "golang.org/x/tools/gopls@$GOPLS_VERSION")
unset GOFLAGS

# --- kernelspec -----------------------------------------------------------------------------
DATA="${JUPYTER_DATA_DIR:-}"
if [ -z "$DATA" ]; then DATA="$("$JUPYTER" --data-dir 2>/dev/null || true)"; fi
if [ -z "$DATA" ]; then DATA="$HOME/.local/share/jupyter"; fi
kdir="$DATA/kernels/$NAME"
mkdir -p "$kdir"

goroot_bin="$(dirname "$GO")"
kpath="$BIN:$goroot_bin"
# Keep the caller's PATH after ours (compilers, git, the PJRT tools a user added).
for p in $(echo "${PATH:-}" | tr ':' ' ') /usr/local/bin /usr/bin /bin; do
	case ":$kpath:" in *":$p:"*) ;; *) kpath="$kpath:$p" ;; esac
done

json_str() { # json_str VALUE: a JSON string literal (paths and names here have no control characters)
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}
env_json="$(json_str GOEXPERIMENT): $(json_str simd), $(json_str PATH): $(json_str "$kpath")"
if [ -n "$BACKEND" ]; then env_json="$env_json, $(json_str GOMLX_BACKEND): $(json_str "$BACKEND")"; fi
display="Go (GoNB, flowers)"
if [ "$NAME" != flowers-gonb ]; then display="Go (GoNB, $NAME)"; fi

tmp="$kdir/kernel.json.tmp.$$"
cat >"$tmp" <<EOF
{
  "argv": [$(json_str "$BIN/gonb"), "--kernel", "{connection_file}"],
  "display_name": $(json_str "$display"),
  "language": "go",
  "interrupt_mode": "message",
  "env": {$env_json},
  "metadata": {"flowers_repo": $(json_str "$repo"), "gonb_version": "$GONB_VERSION"}
}
EOF
mv -f "$tmp" "$kdir/kernel.json"
logo="$("$GO" env GOMODCACHE)/github.com/janpfeifer/gonb@$GONB_VERSION/internal/kernel/Go_gopher_favicon.svg"
if [ -f "$logo" ]; then cp -f "$logo" "$kdir/logo-svg.svg" && chmod 644 "$kdir/logo-svg.svg"; fi

say "kernelspec $NAME installed in $kdir"

# --- XLA CPU plugin (--xla) -----------------------------------------------------------------
if [ "$XLA" = 1 ]; then
	say "installing XLA's CPU PJRT plugin: go run ./cmd/flowers setup ${FLOWERS_XLA_LIBDIR:+-dir $FLOWERS_XLA_LIBDIR}"
	if ! (cd "$repo" && GOEXPERIMENT=simd "$GO" run ./cmd/flowers setup ${FLOWERS_XLA_LIBDIR:+-dir "$FLOWERS_XLA_LIBDIR"}); then
		say "XLA CPU plugin NOT installed (see above): the notebooks run on the pure-Go backend; with internet, run bash kernel/install.sh --xla again"
	fi
fi
say "GOEXPERIMENT=simd, GOMLX_BACKEND=${BACKEND:-<unset: flowerlib picks>}"
# lab.sh finds the same JupyterLab by itself, unless the caller named one.
how="bash kernel/lab.sh"
if [ -n "$USER_JUPYTER" ]; then how="JUPYTER=$JUPYTER $how"; fi
labver="$(lab_version_of "$JUPYTER")"
if [ "$FRONTEND" = notebook ] || [ -z "$labver" ]; then
	say "open the walkthrough with: $how --notebook   (classic Notebook, kernel \"$display\")"
else
	say "open the walkthrough with: $how   (JupyterLab $labver, kernel \"$display\")"
fi
