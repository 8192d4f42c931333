#!/usr/bin/env bash
# venv.sh creates (or reuses) the test-only Python environment outside the repository:
# Keras/TensorFlow oracles, JupyterLab 4, and XLA's CPU PJRT plugin (a wheel from PyPI),
# all at pinned versions. The product itself needs no Python.
#
#   source .ci/venv.sh      # sets FLOWERS_VENV, FLOWERS_PYTHON, FLOWERS_JUPYTERLAB, PJRT_PLUGIN_LIBRARY_PATH
#
# FLOWERS_VENV (default ~/.cache/flowers-ci/venv) is where it lives; it is rebuilt when
# .ci/requirements-test.txt or the plugin pin changes.
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FLOWERS_VENV="${FLOWERS_VENV:-$HOME/.cache/flowers-ci/venv}"

# XLA's CPU PJRT plugin: "built from the XLA of the jaxlib with the same version". Installed
# without its dependencies (jax/jaxlib are not needed to load the .so).
PJRT_WHEEL="lammps-jax-pjrt-cpu==0.11.2"
PJRT_WHEEL_FILE="lammps_jax_pjrt_cpu-0.11.2-py3-none-manylinux_2_27_x86_64.whl"
PJRT_WHEEL_SHA256="1319390d948b39f69f7dade496b7c385149d9ca6097a6b62114da113216d9ad1"

_stamp="$( (cat "$_here/requirements-test.txt"; echo "$PJRT_WHEEL $PJRT_WHEEL_SHA256") | sha256sum | cut -c1-16)"
if [ ! -f "$FLOWERS_VENV/.flowers-stamp" ] || [ "$(cat "$FLOWERS_VENV/.flowers-stamp")" != "$_stamp" ]; then
	echo "venv.sh: creating $FLOWERS_VENV (pinned in .ci/requirements-test.txt; a few minutes)"
	rm -rf "$FLOWERS_VENV"
	/usr/bin/python3 -m venv "$FLOWERS_VENV"
	"$FLOWERS_VENV/bin/pip" install -q --disable-pip-version-check -r "$_here/requirements-test.txt"
	_dl="$(mktemp -d)"
	"$FLOWERS_VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$_dl" "$PJRT_WHEEL"
	echo "$PJRT_WHEEL_SHA256  $_dl/$PJRT_WHEEL_FILE" | sha256sum -c --quiet
	"$FLOWERS_VENV/bin/pip" install -q --disable-pip-version-check --no-deps "$_dl/$PJRT_WHEEL_FILE"
	rm -rf "$_dl"
	echo "$_stamp" >"$FLOWERS_VENV/.flowers-stamp"
fi

# go-xla v0.4.1 looks for pjrt_c_api_<name>_plugin.so in $PJRT_PLUGIN_LIBRARY_PATH.
_so="$("$FLOWERS_VENV/bin/python" -c 'import lammps_jax_pjrt_cpu as p; print(p.PLUGIN_PATH)')"
nm -D --defined-only "$_so" | grep -q ' GetPjrtApi' || { echo "venv.sh: $_so does not export GetPjrtApi" >&2; exit 1; }
mkdir -p "$FLOWERS_VENV/pjrt"
ln -sf "$_so" "$FLOWERS_VENV/pjrt/pjrt_c_api_cpu_plugin.so"

export FLOWERS_VENV
export FLOWERS_PYTHON="$FLOWERS_VENV/bin/python"
export FLOWERS_JUPYTERLAB="$FLOWERS_VENV/bin/jupyter"
export PJRT_PLUGIN_LIBRARY_PATH="$FLOWERS_VENV/pjrt"
export GOMLX_NO_AUTO_INSTALL=1
