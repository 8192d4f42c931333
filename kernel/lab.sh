#!/usr/bin/env bash
# lab.sh opens the walkthrough, notebooks/flowers.ipynb, in JupyterLab 4: the one
# kernel/install.sh found or made (kernel/jupyterlab.sh), serving the notebooks folder.
#
#   bash kernel/lab.sh [--notebook] [NOTEBOOK] [-- JUPYTER ARGUMENTS...]
#
#   --notebook   classic Notebook (Debian's /usr/bin/jupyter) instead of JupyterLab
#   NOTEBOOK     another notebook of notebooks/ (default flowers.ipynb), e.g. transfer_experiments.ipynb
#   -- ...       passed on to `jupyter lab` (e.g. -- --no-browser --port 8889)
#
# $JUPYTER, when set, is the jupyter command to use. Stop the server with Ctrl-C.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
notebooks="$(cd "$here/../notebooks" && pwd)"
FRONTEND=lab
NOTEBOOK=flowers.ipynb
die() { echo "kernel/lab.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--notebook) FRONTEND=notebook ;;
	--) shift; break ;;
	-h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown argument $1 (see --help; jupyter's own options go after --)" ;;
	*) NOTEBOOK="$1" ;;
	esac
	shift
done
# Jupyter refuses to run as root unless told (containers, CI machines).
if [ "$(id -u)" = 0 ]; then set -- --allow-root "$@"; fi
[ -f "$notebooks/$NOTEBOOK" ] || die "no notebook $notebooks/$NOTEBOOK (the notebooks: $(cd "$notebooks" && ls -- *.ipynb | tr '\n' ' '))"

# shellcheck source=kernel/jupyterlab.sh
source "$here/jupyterlab.sh"
JUPYTER="${JUPYTER:-}"
if [ "$FRONTEND" = notebook ]; then
	if [ -z "$JUPYTER" ]; then
		if [ -x /usr/bin/jupyter ]; then JUPYTER=/usr/bin/jupyter; else JUPYTER="$(command -v jupyter || true)"; fi
	fi
	[ -n "$JUPYTER" ] && "$JUPYTER" notebook --version >/dev/null 2>&1 ||
		die "no classic Notebook: bash kernel/install.sh --apt --notebook installs it"
	has_kernel "$JUPYTER" flowers-gonb ||
		die "the kernel flowers-gonb is not registered with $JUPYTER: run bash kernel/install.sh --notebook first"
	cd "$notebooks"
	echo "kernel/lab.sh: classic Notebook $("$JUPYTER" notebook --version) on $notebooks, opening $NOTEBOOK"
	exec "$JUPYTER" notebook "$@" "$NOTEBOOK"
fi
if [ -z "$JUPYTER" ]; then
	JUPYTER="$(find_jupyterlab)" || die "no JupyterLab 4: run bash kernel/install.sh first (it makes one in $FLOWERS_LAB_DIR)"
fi
version="$(lab_version_of "$JUPYTER")"
case "$version" in 4.*) ;; *) die "$JUPYTER lab --version says '${version:-nothing}': want JupyterLab 4 (bash kernel/install.sh makes one)" ;; esac
# The notebooks ask for the kernel install.sh registers.
has_kernel "$JUPYTER" flowers-gonb ||
	die "the kernel flowers-gonb is not registered with $JUPYTER: run bash kernel/install.sh first"
cd "$notebooks"
echo "kernel/lab.sh: JupyterLab $version ($JUPYTER) on $notebooks, opening $NOTEBOOK"
# JupyterLab prints the address of its start page; the notebook's own address is in the page it
# asks the browser to open. Print that one too (a machine without a browser, a remote shell):
# jupyter runs in this process (exec keeps $$), a watcher reads its server file.
runtime="$("$JUPYTER" --runtime-dir)"
(
	for _ in $(seq 1 300); do
		sleep 0.5
		kill -0 $$ 2>/dev/null || exit 0 # jupyter stopped
		f="$runtime/jpserver-$$.json"
		[ -s "$f" ] || continue
		url="$(sed -n 's/^ *"url": "\(.*\)",*$/\1/p' "$f")"
		token="$(sed -n 's/^ *"token": "\(.*\)",*$/\1/p' "$f")"
		[ -n "$url" ] && echo "kernel/lab.sh: the walkthrough is at ${url%/}/lab/tree/$NOTEBOOK${token:+?token=$token}" >&2
		exit 0
	done
) &
exec "$JUPYTER" lab "$@" "$NOTEBOOK"
