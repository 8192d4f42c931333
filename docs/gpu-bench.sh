#!/usr/bin/env bash
# gpu-bench.sh: flowerlib on XLA's CUDA backend (xla:cuda) against PyTorch on the same NVIDIA
# GPU, in one run of `flowers bench`: ResNet50 forward at batch 32/64/256, the sample photos
# decoded and turned into features, the seed's Flatten head step (an epoch of the full dataset
# is 92 of them) and the pooled one, an augment-mode epoch and a fine-tuning epoch (conv5 + head)
# on the sample. Prepared on a CPU-only machine: not run yet. Usage, from anywhere:
#
#   bash docs/gpu-bench.sh [OUT.md]        # the Markdown tables go to OUT.md (default /tmp/gpu-bench.md)
#
# Needs: Go ≥ 1.26 and cgo; a Python ($PYTHON, default python3) with JAX's CUDA plugin
# (pip install "jax[cuda13]": its PJRT plugin is what xla:cuda runs on, as in
# ../shared/ENVIRONMENT.md's verified recipe) and torch with CUDA + torchvision + h5py; the
# 200-photo sample beside the repository (../shared/data/flower_photos_small) or in
# $FLOWERS_SAMPLE_DIR. Peak RSS in the tables is host memory, not GPU memory.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT=simd
PY="${PYTHON:-python3}"
OUT="${1:-/tmp/gpu-bench.md}"

command -v nvidia-smi >/dev/null || { echo "gpu-bench.sh: no nvidia-smi: not an NVIDIA GPU machine" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# XLA's CUDA PJRT plugin from JAX's wheel, under the name go-xla looks for.
SP="$("$PY" -c 'import site; print(site.getsitepackages()[0])')"
PLUGIN="$SP/jax_plugins/xla_cuda13/xla_cuda_plugin.so"
[ -f "$PLUGIN" ] || { echo "gpu-bench.sh: $PLUGIN missing: $PY -m pip install 'jax[cuda13]'" >&2; exit 1; }
PJRT="$(mktemp -d)"
trap 'rm -rf "$PJRT"' EXIT
mkdir -p "$PJRT/lib"
cp "$PLUGIN" "$PJRT/lib/pjrt_c_api_cuda_plugin.so"
ln -sf "$SP/nvidia" "$PJRT/nvidia"
export PJRT_PLUGIN_LIBRARY_PATH="$PJRT/lib" GOMLX_NO_AUTO_INSTALL=1

"$PY" -c 'import torch, torchvision, h5py; assert torch.cuda.is_available(), "torch without CUDA"; print("PyTorch", torch.__version__, torch.cuda.get_device_name())' ||
	{ echo "gpu-bench.sh: $PY needs torch with CUDA, torchvision and h5py" >&2; exit 1; }

go build -o "$PJRT/flowers" ./cmd/flowers
# TF-Keras is left out (-refs torch): tensorflow-cpu has no GPU; add -refs torch,keras with a
# GPU TensorFlow as -keras-python to compare it too.
# Two rounds (xla:cuda, PyTorch, then PyTorch, xla:cuda): medians with their range, each
# comparison marked undecided when the rounds disagree (a dedicated GPU varies less than the
# shared CPU machines, which use the default of 3).
"$PJRT/flowers" bench -backends xla:cuda -refs torch -python "$PY" -torch-device cuda \
	-batch 32,64,256 -duration 5s -epochs 3 -rounds 2 | tee "$OUT"
echo "gpu-bench.sh: tables in $OUT (paste them into docs/BENCHMARKS.md's GPU section with the GPU's name)"
