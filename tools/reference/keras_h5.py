#!/usr/bin/python3
"""Write a seeded random-weights file in the exact layout of Keras 2's ResNet50 weights.

Independent of the Go code: the layer list is derived here from keras.applications'
resnet.py, in the order of the functional model's `model.layers` (depth-sorted; in a
conv-shortcut block: 1_conv 1_bn 1_relu 2_conv 2_bn 2_relu 0_conv 3_conv 0_bn 3_bn add out),
and the file is written with h5py the way `save_weights_to_hdf5_group` does: root
attributes layer_names/backend/keras_version, one group per layer (created in sorted
order), attribute weight_names (an empty float64 array for weightless layers), float32
datasets at /<layer>/<layer>/<weight>:0.

These are NOT ImageNet weights. Scales keep activations O(1) on caffe-preprocessed
photos: He-normal kernels (conv1 scaled by 1/64 for the +-128 pixel range), BN gamma in
[0.8, 1.2] ([0.2, 0.4] for each block's last BN), beta/moving_mean +-0.1,
moving_variance in [0.5, 1.5], biases +-0.05; the top is Glorot-normal.

usage: keras_h5.py --seed 1 [--top] --out F.h5 [--list]
"""
import argparse
import sys

import numpy as np

STAGES = [("conv2", 64, 3, 1), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2), ("conv5", 512, 3, 2)]


def keras_layers(top):
    """Returns [(layer name, [(weight name, shape), ...])] in Keras model.layers order."""
    layers = []

    def conv(name, k, cin, cout):
        layers.append((name, [("kernel", (k, k, cin, cout)), ("bias", (cout,))]))

    def bn(name, c):
        layers.append((name, [(w, (c,)) for w in ("gamma", "beta", "moving_mean", "moving_variance")]))

    def plain(name):
        layers.append((name, []))

    plain("input_1")
    plain("conv1_pad")
    conv("conv1_conv", 7, 3, 64)
    bn("conv1_bn", 64)
    plain("conv1_relu")
    plain("pool1_pad")
    plain("pool1_pool")
    cin = 64
    for stage, f, blocks, _stride in STAGES:
        for b in range(1, blocks + 1):
            n = "%s_block%d" % (stage, b)
            conv(n + "_1_conv", 1, cin, f)
            bn(n + "_1_bn", f)
            plain(n + "_1_relu")
            conv(n + "_2_conv", 3, f, f)
            bn(n + "_2_bn", f)
            plain(n + "_2_relu")
            if b == 1:  # conv shortcut: same depth as the 3_* layers, visited first
                conv(n + "_0_conv", 1, cin, 4 * f)
                conv(n + "_3_conv", 1, f, 4 * f)
                bn(n + "_0_bn", 4 * f)
                bn(n + "_3_bn", 4 * f)
            else:
                conv(n + "_3_conv", 1, f, 4 * f)
                bn(n + "_3_bn", 4 * f)
            plain(n + "_add")
            plain(n + "_out")
            cin = 4 * f
    if top:
        plain("avg_pool")
        layers.append(("predictions", [("kernel", (2048, 1000)), ("bias", (1000,))]))
    return layers


def random_values(layers, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name, ws in layers:
        for w, shape in ws:
            if w == "kernel" and len(shape) == 4:
                std = np.sqrt(2.0 / (shape[0] * shape[1] * shape[2]))
                if name == "conv1_conv":
                    std /= 64
                v = rng.normal(0, std, shape)
            elif w == "kernel":
                v = rng.normal(0, np.sqrt(2.0 / (shape[0] + shape[1])), shape)
            elif w == "bias":
                v = rng.uniform(-0.05, 0.05, shape)
            elif w == "gamma":
                lo, hi = (0.2, 0.4) if name.endswith("_3_bn") else (0.8, 1.2)
                v = rng.uniform(lo, hi, shape)
            elif w in ("beta", "moving_mean"):
                v = rng.uniform(-0.1, 0.1, shape)
            elif w == "moving_variance":
                v = rng.uniform(0.5, 1.5, shape)
            out[(name, w)] = v.astype(np.float32)
    return out


def write(path, layers, values):
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["flowers_note"] = b"RANDOM weights from tools/reference/keras_h5.py: NOT ImageNet weights"
        for name, ws in sorted(layers, key=lambda l: l[0]):
            g = f.create_group(name)
            wnames = [("%s/%s:0" % (name, w)).encode("utf8") for w, _ in ws]
            g.attrs["weight_names"] = np.array(wnames) if wnames else np.array([])
            for (w, shape), wn in zip(ws, wnames):
                d = g.create_dataset(wn.decode(), shape, dtype=np.float32)
                d[...] = values[(name, w)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--top", action="store_true", help="include the 1000-class top (avg_pool, predictions)")
    ap.add_argument("--out", help="output .h5")
    ap.add_argument("--list", action="store_true", help="print the layer list and totals, write nothing")
    a = ap.parse_args()
    layers = keras_layers(a.top)
    if a.list:
        total = 0
        for n, ws in layers:
            p = sum(int(np.prod(s)) for _, s in ws)
            total += p
            print(n, " ".join("%s%s" % (w, list(s)) for w, s in ws), p)
        print("layers", len(layers), "params", total)
        return
    if not a.out:
        ap.error("--out is required")
    write(a.out, layers, random_values(layers, a.seed))
    print("wrote %s: %d layers, RANDOM weights (seed %d), NOT ImageNet" % (a.out, len(layers), a.seed), file=sys.stderr)


if __name__ == "__main__":
    main()
