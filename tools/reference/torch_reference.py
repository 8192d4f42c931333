#!/usr/bin/python3
"""PyTorch references for flowerlib (tests and `flowers bench`; the product needs no Python).

One PyTorch ResNet50 for both uses: an independent mirror of keras.applications.ResNet50 (v1)
built from nn.Conv2d / nn.BatchNorm2d modules, reading a Keras-layout .h5 by layer and weight
name (h5py). Architecture as in keras/applications/resnet.py: ZeroPadding2D(3) + 7x7/2 valid
conv with bias, BN (epsilon 1.001e-5), ReLU, ZeroPadding2D(1) + 3x3/2 valid max-pool; stacks
(64,3,1) (128,4,2) (256,6,2) (512,3,2) of bottleneck blocks with the stride on the first 1x1
conv (and the 1x1 conv shortcut) of each stack's first block, 3x3 'same' convs. Input: RGB
0..255, Keras 'caffe' preprocessing (RGB->BGR, minus [103.939, 116.779, 123.68], no scaling).
Plus the article's head: [Flatten] -> BN -> Dense(2048, relu) -> BN -> Dense(1024, relu) -> BN ->
Dense(5), cross-entropy, Adam(lr=1e-3, eps=1e-7) (Keras' defaults).

usage:
  torch_reference.py features --weights F.h5 --images X.npy --features OUT.npy
      [--pooling avg|max] [--top --probs P.npy] [--dtype float64|float32] [--batch 8] [--threads N]
      pooled features [N, 2048] (and with --top the softmax [N, 1000]) of uint8 [N, H, W, 3] photos.
  torch_reference.py serve --weights F.h5 --threads N [--device cpu|cuda]
      benchmark server for `flowers bench`: one JSON request per stdin line, one JSON answer per
      stdout line (tasks forward, photos, head, augment, finetune; see serve()).
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="The value of the smallest subnormal")  # numpy, with denormals flushed
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchutil import Meter, epochs_answer, median, timed_runs

STAGES = [("conv2", 64, 3, 1), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2), ("conv5", 512, 3, 2)]
EPS = 1.001e-5
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, padding):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=True)
        self.bn = nn.BatchNorm2d(cout, eps=EPS)

    def forward(self, x):
        return self.bn(self.conv(x))


class Block(nn.Module):
    """Keras' block1: parts 0 (conv shortcut), 1 (1x1, strided), 2 (3x3 same), 3 (1x1)."""

    def __init__(self, cin, f, stride, conv_shortcut):
        super().__init__()
        self.part0 = ConvBN(cin, 4 * f, 1, stride, 0) if conv_shortcut else None
        self.part1 = ConvBN(cin, f, 1, stride, 0)
        self.part2 = ConvBN(f, f, 3, 1, 1)
        self.part3 = ConvBN(f, 4 * f, 1, 1, 0)

    def forward(self, x):
        shortcut = self.part0(x) if self.part0 is not None else x
        y = F.relu(self.part1(x))
        y = F.relu(self.part2(y))
        return F.relu(shortcut + self.part3(y))


class ResNet50(nn.Module):
    """forward(x): x NCHW, BGR, caffe-preprocessed. Returns (pooled [N, 2048], probs or None)."""

    def __init__(self, top=False, pooling="avg"):
        super().__init__()
        self.top, self.pooling = top, pooling
        self.conv1 = ConvBN(3, 64, 7, 2, 3)  # = ZeroPadding2D(3) + valid conv
        self.blocks = nn.ModuleDict()
        cin = 64
        for stage, f, n, s in STAGES:
            for b in range(1, n + 1):
                self.blocks["%s_block%d" % (stage, b)] = Block(cin, f, s if b == 1 else 1, b == 1)
                cin = 4 * f
        self.predictions = nn.Linear(2048, 1000) if top else None

    def features(self, x):
        """The last feature map [N, 2048, h, w]."""
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # zeros, as Keras's ZeroPadding2D
        for blk in self.blocks.values():
            x = blk(x)
        return x

    def forward(self, x):
        x = self.features(x)
        pooled = x.mean(dim=(2, 3)) if self.top or self.pooling == "avg" else x.amax(dim=(2, 3))
        if self.predictions is None:
            return pooled, None
        return pooled, torch.softmax(self.predictions(pooled), dim=1)

    def convbn(self, keras_layer):
        """The ConvBN of a Keras layer name prefix, e.g. conv1, conv3_block2_1."""
        if keras_layer == "conv1":
            return self.conv1
        block, part = keras_layer.rsplit("_", 1)
        return getattr(self.blocks[block], "part" + part)


def read_keras_h5(path):
    """{layer: {short weight name: array}} from a Keras-layout .h5, as Keras's load_weights reads it."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        for name in g.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            out[name] = {}
            for n in g[name].attrs["weight_names"]:
                n = n.decode() if isinstance(n, bytes) else n
                out[name][n.split("/")[-1].split(":")[0]] = np.asarray(g[name][n])
    return out


def load_keras_h5(model, path, dtype):
    """Copies every weight of the file into model (by Keras name); every parameter must be set."""
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64)).to(dtype)
    loaded = set()
    with torch.no_grad():
        for layer, ws in read_keras_h5(path).items():
            if not ws:
                continue
            if layer == "predictions":
                if model.predictions is None:
                    continue
                model.predictions.weight.copy_(t(ws["kernel"]).T)
                model.predictions.bias.copy_(t(ws["bias"]))
                loaded.update(["predictions.weight", "predictions.bias"])
                continue
            prefix, kind = layer.rsplit("_", 1)
            m = model.convbn(prefix)
            if kind == "conv":
                m.conv.weight.copy_(t(ws["kernel"]).permute(3, 2, 0, 1))  # [kh,kw,in,out] -> [out,in,kh,kw]
                m.conv.bias.copy_(t(ws["bias"]))
                loaded.update([id(m.conv.weight), id(m.conv.bias)])
            elif kind == "bn":
                m.bn.weight.copy_(t(ws["gamma"]))
                m.bn.bias.copy_(t(ws["beta"]))
                m.bn.running_mean.copy_(t(ws["moving_mean"]))
                m.bn.running_var.copy_(t(ws["moving_variance"]))
                loaded.update([id(m.bn.weight), id(m.bn.bias)])
            else:
                sys.exit("%s: unexpected layer %s" % (path, layer))
    missing = [n for n, p in model.named_parameters() if id(p) not in loaded and n not in loaded]
    if missing:
        sys.exit("%s: no weights for %s" % (path, missing[:5]))


def build_resnet50(weights, dtype=torch.float32, top=False, pooling="avg"):
    model = ResNet50(top=top, pooling=pooling).to(dtype)
    load_keras_h5(model, weights, dtype)
    return model.eval()


def preprocess(nhwc):
    """caffe mode on RGB 0..255 NHWC (uint8 or float): BGR minus the ImageNet mean, returned
    as NCHW with channels_last strides (a view: PyTorch's fast CPU layout, no copy)."""
    x = nhwc.flip(-1).to(torch.get_default_dtype() if nhwc.dtype == torch.uint8 else nhwc.dtype)
    x = x - torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype)
    return x.permute(0, 3, 1, 2)


def features_main(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    model = build_resnet50(a.weights, dtype, top=a.top, pooling=a.pooling)
    images = np.load(a.images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        sys.exit("%s: want uint8 [N,H,W,3], got %s %s" % (a.images, images.dtype, images.shape))
    feats, probs = [], []
    t0 = time.time()
    with torch.inference_mode():
        for i in range(0, len(images), a.batch):
            x = preprocess(torch.from_numpy(images[i:i + a.batch]).to(dtype)).contiguous()
            f, p = model(x)
            feats.append(f.numpy())
            if p is not None:
                probs.append(p.numpy())
    dt = time.time() - t0
    feats = np.concatenate(feats).astype(np.float32)
    np.save(a.features, feats)
    if a.top and a.probs:
        np.save(a.probs, np.concatenate(probs).astype(np.float32))
    print("torch_reference: %d images, %s, %.1f img/s; features mean %.4g std %.4g, %.1f%% zeros" %
          (len(images), a.dtype, len(images) / dt, feats.mean(), feats.std(), 100 * (feats == 0).mean()),
          file=sys.stderr)


# --- the article's head ---------------------------------------------------------------------------

def seed_head(d, classes=5):
    """Flatten'd or pooled features [N, d] -> logits; Keras' BN(momentum 0.99, eps 1e-3)."""
    return nn.Sequential(
        nn.BatchNorm1d(d, eps=1e-3, momentum=0.01), nn.Linear(d, 2048), nn.ReLU(),
        nn.BatchNorm1d(2048, eps=1e-3, momentum=0.01), nn.Linear(2048, 1024), nn.ReLU(),
        nn.BatchNorm1d(1024, eps=1e-3, momentum=0.01), nn.Linear(1024, classes))


def adam(params):
    return torch.optim.Adam(params, lr=1e-3, eps=1e-7)  # Keras' Adam defaults


# --- benchmark server --------------------------------------------------------------------------

def blas_info():
    """Which BLAS this process loaded (Debian's torch links the libblas.so.3 alternative)."""
    libs = set()
    try:
        for line in open("/proc/self/maps"):
            p = line.split()[-1]
            if "blas" in os.path.basename(p) or "mkl_rt" in p:
                libs.add(p)
    except OSError:
        pass
    names = " ".join(sorted(os.path.basename(p) for p in libs))
    if "openblas" in names:
        return "OpenBLAS (%s)" % ", ".join(sorted(libs))
    if "mkl" in names:
        return "MKL (%s)" % ", ".join(sorted(libs))
    if libs:
        return "netlib reference BLAS, slow (%s: install libopenblas0-pthread)" % ", ".join(sorted(libs))
    return "unknown (%s)" % [l for l in torch.__config__.show().split(",") if "BLAS_INFO" in l]


def cpu_isa():
    """The vector extensions PyTorch's kernels use: ATen's (ATEN_CPU_CAPABILITY lowers it),
    OpenBLAS's core (OPENBLAS_CORETYPE) and oneDNN's limit (DNNL_MAX_CPU_ISA), when set."""
    parts = [l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability usage" in l]
    parts = ["ATen " + p for p in parts]
    try:
        import ctypes

        for line in open("/proc/self/maps"):
            p = line.split()[-1]
            if "openblas" in os.path.basename(p):
                lib = ctypes.CDLL(p)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                parts.append("OpenBLAS core " + lib.openblas_get_corename().decode())
                break
    except (OSError, AttributeError):
        pass
    if os.environ.get("DNNL_MAX_CPU_ISA"):
        parts.append("oneDNN max ISA " + os.environ["DNNL_MAX_CPU_ISA"])
    return ", ".join(parts)


def load_photo(path, size):
    """PIL, as torchvision's ImageFolder loads a photo: RGB, bilinear resize to size x size."""
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im.convert("RGB").resize((size, size), Image.BILINEAR))


class Photos(torch.utils.data.Dataset):
    def __init__(self, paths, size):
        self.paths, self.size = paths, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return torch.from_numpy(load_photo(self.paths[i], self.size))


DEVICE = torch.device("cpu")


def sync():
    """Waits for the device (CUDA runs asynchronously), so that timings are complete."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def serve(a):
    global DEVICE
    DEVICE = torch.device(a.device)
    torch.set_num_threads(a.threads)
    # Harmless with flowerlib's weights (activations stay O(1)); PyTorch's CPU kernels slow
    # down several times on denormals, so the baseline keeps them flushed.
    torch.set_flush_denormal(True)
    torch.manual_seed(1)
    settings = "%d threads, eval + inference_mode, channels_last model and input, denormals flushed" % a.threads
    if DEVICE.type == "cpu" and cpu_isa():
        settings += ", vector code: " + cpu_isa()
    if DEVICE.type == "cuda":
        # XLA's CUDA backend multiplies float32 in TF32 by default (go-xla's "tf32" option): the same here.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        settings = "%s, float32 with TF32, cudnn.benchmark, channels_last, eval + inference_mode" % torch.cuda.get_device_name()
    model = build_resnet50(a.weights).to(DEVICE).to(memory_format=torch.channels_last)
    print(json.dumps({"framework": "PyTorch " + torch.__version__, "blas": blas_info() if DEVICE.type == "cpu" else "cuDNN %s" % torch.backends.cudnn.version(),
                      "settings": settings}),
          flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = TASKS[req["task"]](model, req, a)
        except Exception as e:  # report, keep serving
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        out["task"] = req["task"]
        print(json.dumps(out), flush=True)


def task_forward(model, req, a):
    batch, size = req["batch"], req["size"]
    x = (torch.rand(batch, size, size, 3) * 255).to(DEVICE)
    with torch.inference_mode(), Meter() as m:
        run = lambda: (model(preprocess(x)), sync())
        for _ in range(2):  # warm-up: oneDNN prepares its kernels per shape on the first runs
            run()
        with Meter() as timed:
            times = timed_runs(run, req["duration"])
    y, _ = model(preprocess(x))
    assert tuple(y.shape) == (batch, 2048) and bool(torch.isfinite(y).all())
    return {"images_per_sec": batch / median(times), "iterations": len(times), "peak_rss_mib": m.peak,
            "cpu_seconds_per_image": timed.cpu_seconds / (batch * len(times))}


def task_photos(model, req, a):
    """Decode + resize + pooled features of every photo: DataLoader with one worker per thread."""
    paths, size, batch = req["paths"], req["size"], req["batch"]
    loader = torch.utils.data.DataLoader(Photos(paths, size), batch_size=batch, num_workers=a.threads)
    n = 0
    with torch.inference_mode(), Meter() as m:
        m.children = True
        for x in loader:
            f, _ = model(preprocess(x.to(DEVICE)))
            n += len(f)
        sync()
    assert n == len(paths)
    return {"images": n, "seconds": m.seconds, "images_per_sec": n / m.seconds, "peak_rss_mib": m.peak,
            "cpu_seconds_per_image": m.cpu_seconds / n}


def task_head(model, req, a):
    """Adam steps of the article's head on random cached features, batch 32 (speed does not depend on values)."""
    d = 7 * 7 * 2048 if req["kind"] == "flatten" else 2048
    batch = req["batch"]
    with Meter() as m:
        net = seed_head(d).to(DEVICE)
        opt = adam(net.parameters())
        x, y = torch.rand(batch, d, device=DEVICE), torch.randint(0, 5, (batch,), device=DEVICE)

        def step():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
            sync()

        step()  # warm-up: allocates Adam's moments
        with Meter() as timed:
            times = timed_runs(step, req["duration"], min_runs=req.get("min_steps", 2))
    return {"seconds_per_step": median(times), "images_per_sec": batch / median(times), "iterations": len(times),
            "peak_rss_mib": m.peak, "cpu_seconds_per_image": timed.cpu_seconds / (batch * len(times))}


def task_augment(model, req, a):
    """The article's augment mode: each epoch, augmented photos through the frozen base, the Flatten
    head trained on them (batch 32, Adam), then a validation pass. Photos decoded once before
    training, as the article's read_images does; augmentation with torchvision's RandomAffine +
    RandomHorizontalFlip mirroring ImageDataGenerator(rotation_range=40, width/height_shift_range=0.4,
    shear_range=0.2 (degrees), zoom_range=0.3, horizontal_flip=True) (fill: zeros, not 'nearest')."""
    from torchvision import transforms as T

    size, batch = req["size"], req["batch"]
    load = lambda paths: torch.stack([torch.from_numpy(load_photo(p, size)).permute(2, 0, 1) for p in paths])
    xt, yt = load(req["train"]), torch.tensor(req["train_labels"], device=DEVICE)
    xv, yv = load(req["valid"]), torch.tensor(req["valid_labels"], device=DEVICE)
    aug = T.Compose([T.RandomAffine(degrees=40, translate=(0.4, 0.4), scale=(0.7, 1.3), shear=0.2),
                     T.RandomHorizontalFlip()])
    classes = int(max(yt.max(), yv.max())) + 1
    for p in model.parameters():
        p.requires_grad_(False)
    epochs = []
    with Meter() as m:
        base = lambda x: model.features(preprocess(x.to(DEVICE).permute(0, 2, 3, 1))).permute(0, 2, 3, 1).flatten(1)
        with torch.no_grad():
            grid = model.features(preprocess(xt[:1].to(DEVICE).permute(0, 2, 3, 1))).shape[2]
        head = seed_head(grid * grid * 2048, classes).to(DEVICE)
        opt = adam(head.parameters())
        for _ in range(req["epochs"]):
            with Meter() as e:
                head.train()
                perm = torch.randperm(len(xt))
                for i in range(0, len(xt), batch):
                    idx = perm[i:i + batch]
                    x = torch.stack([aug(img) for img in xt[idx]])
                    with torch.no_grad():
                        f = base(x)
                    opt.zero_grad()
                    F.cross_entropy(head(f), yt[idx]).backward()
                    opt.step()
                head.eval()
                with torch.inference_mode():
                    for i in range(0, len(xv), batch):
                        head(base(xv[i:i + batch])).argmax(1)
                sync()
            epochs.append((e.seconds, e.cpu_seconds))
    return epochs_answer(len(xt) + len(xv), epochs, m.peak)


def task_finetune(model, req, a):
    """Fine-tuning: the stage named by req["stage"] (conv5) unfrozen, in training mode (batch
    statistics, as Keras trains an unfrozen BatchNormalization), trained with the pooled head
    (Adam, lr req["lr"], batch 32) on the training photos (decoded once, not augmented), then a
    validation pass; time of the last epoch."""
    import copy

    size, batch, stage = req["size"], req["batch"], req["stage"]
    load = lambda paths: torch.stack([torch.from_numpy(load_photo(p, size)) for p in paths])
    xt, yt = load(req["train"]), torch.tensor(req["train_labels"], device=DEVICE)
    xv, yv = load(req["valid"]), torch.tensor(req["valid_labels"], device=DEVICE)
    classes = int(max(yt.max(), yv.max())) + 1
    net = copy.deepcopy(model)  # the served model stays frozen for the other tasks
    trainable = [m for name, m in net.blocks.items() if name.startswith(stage + "_")]
    for p in net.parameters():
        p.requires_grad_(False)
    for m in trainable:
        for p in m.parameters():
            p.requires_grad_(True)
    head = seed_head(2048, classes).to(DEVICE)
    opt = torch.optim.Adam([p for m in trainable for p in m.parameters()] + list(head.parameters()), lr=req["lr"], eps=1e-7)
    epochs = []
    with Meter() as m:
        for _ in range(req["epochs"]):
            with Meter() as e:
                net.eval()
                for blk in trainable:
                    blk.train()
                head.train()
                perm = torch.randperm(len(xt))
                for i in range(0, len(xt), batch):
                    idx = perm[i:i + batch]
                    pooled, _ = net(preprocess(xt[idx].to(DEVICE)))
                    opt.zero_grad()
                    F.cross_entropy(head(pooled), yt[idx]).backward()
                    opt.step()
                net.eval()
                head.eval()
                with torch.inference_mode():
                    for i in range(0, len(xv), batch):
                        head(net(preprocess(xv[i:i + batch].to(DEVICE)))[0]).argmax(1)
                sync()
            epochs.append((e.seconds, e.cpu_seconds))
    return epochs_answer(len(xt) + len(xv), epochs, m.peak)


TASKS = {"forward": task_forward, "photos": task_photos, "head": task_head, "augment": task_augment,
         "finetune": task_finetune}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("features", help="pooled features (and probabilities) of photos")
    f.add_argument("--weights", required=True)
    f.add_argument("--images", required=True, help="uint8 .npy [N,H,W,3] RGB")
    f.add_argument("--features", required=True, help="output float32 .npy [N,2048]")
    f.add_argument("--pooling", default="avg", choices=["avg", "max"])
    f.add_argument("--top", action="store_true")
    f.add_argument("--probs", help="output float32 .npy [N,1000] (with --top)")
    f.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    f.add_argument("--batch", type=int, default=8)
    f.add_argument("--threads", type=int, default=0)
    s = sub.add_parser("serve", help="benchmark server for flowers bench")
    s.add_argument("--weights", required=True, help="Keras-layout ResNet50 .h5 without the top")
    s.add_argument("--threads", type=int, default=os.cpu_count())
    s.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU benchmark (docs/gpu-bench.sh)")
    a = ap.parse_args()
    if a.cmd == "features":
        features_main(a)
    else:
        serve(a)


if __name__ == "__main__":
    main()
