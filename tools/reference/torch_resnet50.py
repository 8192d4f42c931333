#!/usr/bin/python3
"""An independent ResNet50 in PyTorch that mirrors keras.applications.ResNet50 (v1).

Reads weights from a Keras-layout .h5 (via h5py, by Keras layer and weight name), input
photos from a uint8 .npy [N, H, W, 3] RGB, applies Keras's 'caffe' preprocessing itself
(RGB->BGR, subtract [103.939, 116.779, 123.68], no scaling) and writes the pooled
features [N, 2048] float32 .npy; with --top also the softmax probabilities [N, 1000].

Architecture as in keras/applications/resnet.py: ZeroPadding2D(3) + 7x7/2 valid conv
with bias, BN (epsilon 1.001e-5), ReLU, ZeroPadding2D(1) + 3x3/2 valid max-pool; stacks
(64,3,1) (128,4,2) (256,6,2) (512,3,2) of bottleneck blocks with the stride on the first
1x1 conv (and the 1x1 conv shortcut) of each stack's first block, 3x3 'same' convs.

usage: torch_resnet50.py --weights F.h5 --images X.npy --features OUT.npy
       [--pooling avg|max] [--top --probs P.npy] [--dtype float64|float32] [--batch 8]
"""
import argparse
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

STAGES = [("conv2", 64, 3, 1), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2), ("conv5", 512, 3, 2)]
EPS = 1.001e-5
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]


class KerasWeights:
    """Weights by Keras layer name, read as Keras's load_weights does."""

    def __init__(self, path, dtype):
        self.dtype = dtype
        self.w = {}
        with h5py.File(path, "r") as f:
            g = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
            for name in g.attrs["layer_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                wn = g[name].attrs["weight_names"]
                self.w[name] = {}
                for n in wn:
                    n = n.decode() if isinstance(n, bytes) else n
                    short = n.split("/")[-1].split(":")[0]
                    self.w[name][short] = np.asarray(g[name][n])
        self.used = set()

    def get(self, layer, weight):
        self.used.add(layer)
        return torch.from_numpy(self.w[layer][weight].astype(np.float64)).to(self.dtype)


class ResNet50(torch.nn.Module):
    def __init__(self, w, top=False, pooling="avg"):
        super().__init__()
        self.w, self.top, self.pooling = w, top, pooling
        self.p = {}
        for layer, ws in w.w.items():
            for short in ws:
                t = w.get(layer, short)
                if short == "kernel" and t.dim() == 4:
                    t = t.permute(3, 2, 0, 1).contiguous()  # [kh,kw,in,out] -> [out,in,kh,kw]
                self.p[(layer, short)] = t

    def conv(self, x, name, stride=1, padding=0):
        return F.conv2d(x, self.p[(name, "kernel")], self.p[(name, "bias")], stride=stride, padding=padding)

    def bn(self, x, name):
        g, b = self.p[(name, "gamma")], self.p[(name, "beta")]
        m, v = self.p[(name, "moving_mean")], self.p[(name, "moving_variance")]
        scale = g / torch.sqrt(v + EPS)
        return (x - m[None, :, None, None]) * scale[None, :, None, None] + b[None, :, None, None]

    def block(self, x, name, stride, conv_shortcut):
        if conv_shortcut:
            shortcut = self.bn(self.conv(x, name + "_0_conv", stride), name + "_0_bn")
        else:
            shortcut = x
        y = F.relu(self.bn(self.conv(x, name + "_1_conv", stride), name + "_1_bn"))
        y = F.relu(self.bn(self.conv(y, name + "_2_conv", 1, padding=1), name + "_2_bn"))
        y = self.bn(self.conv(y, name + "_3_conv"), name + "_3_bn")
        return F.relu(shortcut + y)

    def forward(self, x):
        """x: NCHW BGR, caffe-preprocessed. Returns (pooled [N,2048], probs or None)."""
        x = F.pad(x, (3, 3, 3, 3))
        x = F.relu(self.bn(self.conv(x, "conv1_conv", 2), "conv1_bn"))
        x = F.pad(x, (1, 1, 1, 1))  # zeros, as Keras's ZeroPadding2D
        x = F.max_pool2d(x, 3, 2)
        for stage, filters, blocks, stride in STAGES:
            for b in range(1, blocks + 1):
                x = self.block(x, "%s_block%d" % (stage, b), stride if b == 1 else 1, b == 1)
        if self.top or self.pooling == "avg":
            pooled = x.mean(dim=(2, 3))
        else:
            pooled = x.amax(dim=(2, 3))
        probs = None
        if self.top:
            logits = pooled @ self.p[("predictions", "kernel")] + self.p[("predictions", "bias")]
            probs = torch.softmax(logits, dim=1)
        return pooled, probs


def preprocess(rgb_uint8, dtype):
    """caffe mode: RGB->BGR, subtract the ImageNet BGR mean; returns NCHW."""
    x = torch.from_numpy(rgb_uint8.astype(np.float64)).to(dtype)
    x = x[..., [2, 1, 0]] - torch.tensor(CAFFE_MEAN_BGR, dtype=dtype)
    return x.permute(0, 3, 1, 2).contiguous()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--images", required=True, help="uint8 .npy [N,H,W,3] RGB")
    ap.add_argument("--features", required=True, help="output float32 .npy [N,2048]")
    ap.add_argument("--pooling", default="avg", choices=["avg", "max"])
    ap.add_argument("--top", action="store_true")
    ap.add_argument("--probs", help="output float32 .npy [N,1000] (with --top)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    w = KerasWeights(a.weights, dtype)
    model = ResNet50(w, top=a.top, pooling=a.pooling)
    images = np.load(a.images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        sys.exit("%s: want uint8 [N,H,W,3], got %s %s" % (a.images, images.dtype, images.shape))
    feats, probs = [], []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, len(images), a.batch):
            f, p = model(preprocess(images[i:i + a.batch], dtype))
            feats.append(f.numpy())
            if p is not None:
                probs.append(p.numpy())
    dt = time.time() - t0
    feats = np.concatenate(feats).astype(np.float32)
    np.save(a.features, feats)
    if a.top and a.probs:
        np.save(a.probs, np.concatenate(probs).astype(np.float32))
    print("torch_resnet50: %d images, %s, %.1f img/s; features mean %.4g std %.4g, %.1f%% zeros" %
          (len(images), a.dtype, len(images) / dt, feats.mean(), feats.std(), 100 * (feats == 0).mean()),
          file=sys.stderr)


if __name__ == "__main__":
    main()
