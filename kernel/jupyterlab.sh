# jupyterlab.sh (sourced by install.sh and lab.sh) finds JupyterLab 4, or makes the pinned
# environment of flowers' own: a Python virtual environment outside the repository,
# $FLOWERS_JUPYTERLAB_DIR (default ${XDG_DATA_HOME:-~/.local/share}/flowers/jupyterlab), with
# JupyterLab at the versions of .ci/requirements-test.txt (the CI's lock, so that users get the
# JupyterLab the browser tests pass on: pip installs jupyterlab constrained by that lock, i.e.
# only what JupyterLab needs, each at the lock's version).
#
# Functions (they print to stderr; a path on stdout):
#   system_jupyterlab the jupyter command of a JupyterLab 4 of the system's (on PATH); status 1 if none
#   find_jupyterlab   system_jupyterlab's, else the environment above when complete; status 1 if none
#   make_jupyterlab   makes (or reuses, or remakes when it no longer matches the lock) the
#                     environment and prints its jupyter command; status 1 with what is missing

_flowers_kernel_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FLOWERS_LAB_LOCK="$_flowers_kernel_dir/../.ci/requirements-test.txt"
FLOWERS_LAB_DIR="${FLOWERS_JUPYTERLAB_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/flowers/jupyterlab}"
# The marker says the folder is flowers' own (only then is it ever removed); the stamp, written
# last, says it is complete and holds the lock's lines it was made with (pip freeze ∩ lock): it is
# reused while the lock still has each of them.
_flowers_lab_marker=".flowers-jupyterlab"
_flowers_lab_stamp=".flowers-complete"

# lab_version_of JUPYTER: the JupyterLab version of a jupyter command ("" if it has none).
lab_version_of() {
	{ "$1" lab --version 2>/dev/null || true; } | head -n1 | tr -d '[:space:]'
}

# has_kernel JUPYTER NAME: the kernelspec NAME is where JUPYTER's Jupyter looks for kernels
# (jupyter_client's search path, with the interpreter of the jupyter script: Debian's jupyter has
# no kernelspec subcommand).
has_kernel() {
	local script interp
	script="$(command -v "$1")" || return 1
	read -r -a interp < <(sed -n '1s/^#![[:space:]]*//p' "$script")
	[ "${#interp[@]}" -gt 0 ] || return 1
	"${interp[@]}" -c 'import sys
from jupyter_client.kernelspec import KernelSpecManager
sys.exit(sys.argv[1] not in KernelSpecManager().find_kernel_specs())' "$2" 2>/dev/null
}

# lab_pinned_version: the jupyterlab version of the lock.
lab_pinned_version() {
	sed -n 's/^jupyterlab==\([^[:space:]]*\).*/\1/p' "$FLOWERS_LAB_LOCK"
}

system_jupyterlab() {
	local j v
	for j in "$(command -v jupyter || true)" /usr/bin/jupyter /usr/local/bin/jupyter; do
		[ -n "$j" ] && [ -x "$j" ] || continue
		[ "$j" = "$FLOWERS_LAB_DIR/bin/jupyter" ] && continue
		v="$(lab_version_of "$j")"
		case "$v" in 4.*) echo "$j"; return 0 ;; esac
	done
	return 1
}

find_jupyterlab() {
	system_jupyterlab && return 0
	if [ -s "$FLOWERS_LAB_DIR/$_flowers_lab_stamp" ] && [ -x "$FLOWERS_LAB_DIR/bin/jupyter" ]; then
		echo "$FLOWERS_LAB_DIR/bin/jupyter"
		return 0
	fi
	return 1
}

# _lock_lines: the lock without its comments.
_lock_lines() { grep -v '^[[:space:]]*#' "$FLOWERS_LAB_LOCK"; }

# _lab_stamp_current: the environment is complete and every pin it was made with is still in the
# lock (names compare case-insensitively: pip freeze prints a project's own spelling).
_lab_stamp_current() {
	local stamp="$FLOWERS_LAB_DIR/$_flowers_lab_stamp"
	[ -s "$stamp" ] && [ -z "$(grep -vixFf <(_lock_lines) "$stamp" || true)" ]
}

# lab_python: the Python that makes the environment ($FLOWERS_LAB_PYTHON, else /usr/bin/python3,
# else python3): ≥ 3.11 (the lock was made with 3.11; ipython 9 needs it) with venv and ensurepip
# (Debian's python3-venv). Status 1 with what to install.
lab_python() {
	local py="${FLOWERS_LAB_PYTHON:-}" pyver
	if [ -z "$py" ]; then
		for py in /usr/bin/python3 "$(command -v python3 || true)"; do [ -x "$py" ] && break; done
	fi
	pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
	case "$pyver" in
	3.1[1-9] | 3.[2-9][0-9]) ;;
	*)
		echo "MISSING: Python ≥ 3.11 for flowers' own JupyterLab 4 environment; ${py:-python3} is ${pyver:-not there}." >&2
		echo "  On Debian/Ubuntu: sudo apt-get install -y python3 python3-venv (or bash kernel/install.sh --apt);" >&2
		echo "  or set FLOWERS_LAB_PYTHON to a Python ≥ 3.11, JUPYTER to a JupyterLab 4's jupyter, or use classic Notebook: --notebook" >&2
		return 1
		;;
	esac
	if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
		echo "MISSING: $py cannot make a virtual environment (no venv/ensurepip)." >&2
		echo "  On Debian/Ubuntu: sudo apt-get install -y python3-venv (or bash kernel/install.sh --apt)" >&2
		return 1
	fi
	echo "$py"
}

make_jupyterlab() {
	local want py pyver frozen
	want="$(lab_pinned_version)"
	[ -n "$want" ] || { echo "MISSING: no jupyterlab== line in $FLOWERS_LAB_LOCK" >&2; return 1; }
	if _lab_stamp_current && [ "$(lab_version_of "$FLOWERS_LAB_DIR/bin/jupyter")" = "$want" ]; then
		echo "JupyterLab $want: $FLOWERS_LAB_DIR (flowers' own environment, reused)" >&2
		echo "$FLOWERS_LAB_DIR/bin/jupyter"
		return 0
	fi
	if [ -e "$FLOWERS_LAB_DIR" ] && [ ! -f "$FLOWERS_LAB_DIR/$_flowers_lab_marker" ]; then
		echo "MISSING: JupyterLab 4. $FLOWERS_LAB_DIR exists but was not made by kernel/install.sh: move it away or set FLOWERS_JUPYTERLAB_DIR to another folder." >&2
		return 1
	fi
	py="$(lab_python)" || return 1
	pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
	echo "JupyterLab $want: making flowers' own environment in $FLOWERS_LAB_DIR (Python $pyver, pip, versions pinned by .ci/requirements-test.txt; a minute or two)" >&2
	if [ -e "$FLOWERS_LAB_DIR" ]; then rm -rf "$FLOWERS_LAB_DIR"; fi
	mkdir -p "$FLOWERS_LAB_DIR" && echo "made by kernel/install.sh (flowers); safe to delete" >"$FLOWERS_LAB_DIR/$_flowers_lab_marker"
	if ! "$py" -m venv "$FLOWERS_LAB_DIR" ||
		! "$FLOWERS_LAB_DIR/bin/python" -m pip install -q --disable-pip-version-check --no-input \
			-c <(_lock_lines) "jupyterlab==$want" >&2; then
		echo "MISSING: JupyterLab $want could not be installed into $FLOWERS_LAB_DIR (pip's message above; PyPI must be reachable)." >&2
		return 1
	fi
	if [ "$(lab_version_of "$FLOWERS_LAB_DIR/bin/jupyter")" != "$want" ]; then
		echo "MISSING: $FLOWERS_LAB_DIR/bin/jupyter lab --version is not $want after pip install." >&2
		return 1
	fi
	frozen="$("$FLOWERS_LAB_DIR/bin/python" -m pip freeze --disable-pip-version-check)" || return 1
	if [ -n "$(echo "$frozen" | grep -vixFf <(_lock_lines) || true)" ]; then
		# A Python other than the lock's may need packages the lock lacks: say which, go on.
		echo "note: not pinned by the lock, installed at pip's choice: $(echo "$frozen" | grep -vixFf <(_lock_lines) | tr '\n' ' ')" >&2
	fi
	echo "$frozen" | grep -ixFf <(_lock_lines) >"$FLOWERS_LAB_DIR/$_flowers_lab_stamp.tmp"
	mv -f "$FLOWERS_LAB_DIR/$_flowers_lab_stamp.tmp" "$FLOWERS_LAB_DIR/$_flowers_lab_stamp"
	echo "$FLOWERS_LAB_DIR/bin/jupyter"
}
