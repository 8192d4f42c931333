"""Keras itself as flowerlib's oracle: the Keras side of every check in tools/keras, in one process.

usage: $FLOWERS_PYTHON oracle.py DIR
       python3 oracle.py --fastai-one-cycle DIR/job.json   (fastai's one-cycle only; torch if installed)

DIR/job.json (written by the Go tests, oracle_test.go) says which sections to run; inputs and
outputs are files in DIR with the fixed names below; DIR/results.json gets the measurements
and each section's seconds. Loading TensorFlow takes seconds and the machine has 2 cores, so
one process does everything. Nothing here imports flowerlib: the Go tests read these files.

Inputs (from Go):
  images.npy                 uint8 [n, 224, 224, 3] RGB photos, decoded and resized by flowerlib
  fl_notop.h5, fl_top.h5     flowerlib-written Keras 2 weights (resnet50.RandomWeights + weights.WriteH5)
  fl_top.weights.h5          the same with-top weights in Keras 3's layout (weights.WriteKeras3)
  head_<kind>_init_<layer>_<weight>.npy   the head's initial values from flowerlib (head.Init)
Outputs:
  out_fl_{none,avg,max,top}.npy   tf-keras ResNet50(weights=None, pooling=...) after load_weights(fl_*.h5);
                                  none on all photos, avg, max and top on the first job["subset"]
  feat_avg.npy                    out_fl_none averaged over the 7x7 grid: the pooled head's features
  tfk_top.h5, tfk_notop.h5        tf-keras' own ResNet50 (random), save_weights (legacy .h5)
  k3_top.weights.h5, k3_notop.weights.h5   Keras 3's own ResNet50 (random), save_weights
  hashes_<file>.json              {layer: [sha256 of each weight's float32 LE bytes]} as Keras holds them
  out_tfk_top.npy, out_k3_avg.npy outputs of those models on the first job["subset"] photos
  pre_tfk.npy, pre_k3.npy         preprocess_input of tf-keras and Keras 3 on the photos as float32
  aug_params.json, aug_kp.npy, aug_tfk.npy, aug_tfk_noshear.npy   ImageDataGenerator draws and warps
  head_<kind>_final_<layer>_<weight>.npy   the head after the Adam steps (tf-keras, float32)
  head_<kind>_final64_<layer>_<weight>.npy the same steps in float64 (saved as float32)
  results.json "head_<kind>"      losses, Keras' Adam step sizes, the reversed-rows rerun's differences
  results.json "bn_moving_variance", "he_normal_<kind>", "keras3_loads_*", "augment_same_draws_kp_tfk"
  summary_<kind>.txt              tf-keras model.summary() of ResNet50 + the article's head
  split.json                      the article's train/validation rows (pandas + sklearn) of job["sample"]
  results.json "recipes"          job["recipes"]'s losses, one Adam step, balanced weights, CosineDecay and
                                  fastai's one-cycle (recipes_test.go; needs no photo)

Random weights made here are NOT ImageNet weights. Keras' own initializers give conv/dense kernels;
BatchNorm statistics, gammas, betas and the biases (constants at Keras' init) are then drawn with
numpy, so that a loader that confused any two of them would change the outputs.
"""
import hashlib
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

DIR = None
JOB = {}
RESULTS = {"seconds": {}}
BATCH = 32
SECTIONS = []  # (name, function) in the order they run


def path(name):
    return os.path.join(DIR, name)


def section(name):
    """Registers fn as the section name; main runs the sections the job lists, timing each."""
    def wrap(fn):
        SECTIONS.append((name, fn))
        return fn
    return wrap


def images_float():
    return np.load(path("images.npy")).astype(np.float32)


def predict(model, x):
    return model.predict(x, batch_size=BATCH, verbose=0).astype(np.float32)


def layer_hashes(model):
    out = {}
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            out[layer.name] = [hashlib.sha256(np.ascontiguousarray(w, dtype="<f4").tobytes()).hexdigest() for w in ws]
    return out


def randomize_constants(model, seed):
    """Draws the weights Keras initializes to constants (BatchNorm gamma/beta/moving stats, biases)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            c = ws[0].shape
            lo, hi = (0.2, 0.4) if layer.name.endswith("_3_bn") else (0.8, 1.2)
            ws = [rng.uniform(lo, hi, c), rng.uniform(-0.1, 0.1, c), rng.uniform(-0.1, 0.1, c), rng.uniform(0.5, 1.5, c)]
        elif len(ws) == 2:  # Conv2D / Dense: Keras' kernel, a random bias
            ws = [ws[0], rng.uniform(-0.05, 0.05, ws[1].shape)]
        layer.set_weights([w.astype(np.float32) for w in ws])


@section("flowerlib_weights")
def flowerlib_weights():
    """Keras loads flowerlib-written files; outputs on the photos for each pooling and the top."""
    import tf_keras
    from tf_keras.applications import resnet50 as r50

    x = r50.preprocess_input(images_float())
    for pooling in ("none", "avg", "max", "top"):
        top = pooling == "top"
        m = tf_keras.applications.ResNet50(weights=None, include_top=top, pooling=None if pooling in ("none", "top") else pooling)
        m.load_weights(path("fl_top.h5" if top else "fl_notop.h5"))
        # avg, max and top share the base with none: their own last layers are checked on the subset
        out = predict(m, x if pooling == "none" else x[:JOB["subset"]])
        np.save(path("out_fl_%s.npy" % pooling), out)
        if pooling == "none":  # the pooled head's inputs, for every photo
            np.save(path("feat_avg.npy"), out.mean(axis=(1, 2), dtype=np.float64).astype(np.float32))
        if top:
            ref = m.get_weights()
    # Keras 3 reads flowerlib's .weights.h5 (its own layout) and its legacy .h5: same weights as tf-keras.
    import keras
    for name in ("fl_top.weights.h5", "fl_top.h5"):
        k = keras.applications.ResNet50(weights=None, include_top=True)
        k.load_weights(path(name))
        got = k.get_weights()
        RESULTS["keras3_loads_" + name] = {
            "tensors": len(got), "tf_keras_tensors": len(ref),
            "max_abs_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(got, ref)) if len(got) == len(ref) else None,
        }


@section("keras_writes")
def keras_writes():
    """Keras writes its own random ResNet50 (tf-keras legacy .h5 and Keras 3 .weights.h5)."""
    import tf_keras
    import keras
    from tf_keras.applications import resnet50 as r50

    x = r50.preprocess_input(images_float())
    seed = JOB.get("seed", 7)
    tfk = tf_keras.applications.ResNet50(weights=None, include_top=True)
    randomize_constants(tfk, seed)
    tfk.save_weights(path("tfk_top.h5"))
    json.dump(layer_hashes(tfk), open(path("hashes_tfk_top.h5.json"), "w"))
    np.save(path("out_tfk_top.npy"), predict(tfk, x[:JOB["subset"]]))
    tfk_notop = tf_keras.applications.ResNet50(weights=None, include_top=False)
    for layer in tfk_notop.layers:
        if layer.get_weights():
            layer.set_weights(tfk.get_layer(layer.name).get_weights())
    tfk_notop.save_weights(path("tfk_notop.h5"))
    json.dump(layer_hashes(tfk_notop), open(path("hashes_tfk_notop.h5.json"), "w"))

    k3 = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg")
    randomize_constants(k3, seed + 1)
    k3.save_weights(path("k3_notop.weights.h5"))
    json.dump(layer_hashes(k3), open(path("hashes_k3_notop.weights.h5.json"), "w"))
    np.save(path("out_k3_avg.npy"), predict(k3, x[:JOB["subset"]]))
    k3top = keras.applications.ResNet50(weights=None, include_top=True)
    randomize_constants(k3top, seed + 2)
    k3top.save_weights(path("k3_top.weights.h5"))
    json.dump(layer_hashes(k3top), open(path("hashes_k3_top.weights.h5.json"), "w"))


@section("preprocess")
def preprocess():
    from tf_keras.applications import resnet50 as tfk_r50
    from keras.applications import resnet50 as k3_r50

    np.save(path("pre_tfk.npy"), tfk_r50.preprocess_input(images_float()))
    np.save(path("pre_k3.npy"), np.asarray(k3_r50.preprocess_input(images_float())))


def seed_generator(module):
    """The article's ImageDataGenerator, without rescale (values stay 0..255 grey levels)."""
    return module.ImageDataGenerator(rotation_range=40, width_shift_range=0.4, height_shift_range=0.4,
                                     shear_range=0.2, zoom_range=0.3, horizontal_flip=True, fill_mode="nearest")


@section("augment")
def augment():
    """Keras draws the parameters (get_random_transform) and warps (apply_transform)."""
    import keras_preprocessing.image as kp
    from tf_keras.src.preprocessing import image as tfk_image

    n = JOB.get("augment_n", 50)
    x = images_float()[:n]
    gkp, gtfk = seed_generator(kp), seed_generator(tfk_image)
    params, out_kp, out_tfk, out_tfk0 = [], [], [], []
    same_draws = True
    for i in range(n):
        p = gkp.get_random_transform(x[i].shape, seed=1000 + i)
        q = gtfk.get_random_transform(x[i].shape, seed=1000 + i)
        same_draws &= all(np.isclose(float(p[k] or 0), float(q[k] or 0), rtol=0, atol=0) for k in p)
        params.append({k: (None if v is None else float(v)) for k, v in p.items()})
        out_kp.append(gkp.apply_transform(x[i], p))
        out_tfk.append(gtfk.apply_transform(x[i], p))
        out_tfk0.append(gtfk.apply_transform(x[i], dict(p, shear=0)))
    RESULTS["augment_same_draws_kp_tfk"] = bool(same_draws)
    json.dump(params, open(path("aug_params.json"), "w"))
    np.save(path("aug_kp.npy"), np.stack(out_kp).astype(np.float32))
    np.save(path("aug_tfk.npy"), np.stack(out_tfk).astype(np.float32))
    np.save(path("aug_tfk_noshear.npy"), np.stack(out_tfk0).astype(np.float32))


def seed_head(tf_keras, inp, flatten):
    """The article's head, in its layer order, on the features inp."""
    from tf_keras import layers
    from tf_keras.initializers import he_normal
    x = layers.Flatten()(inp) if flatten else inp
    x = layers.BatchNormalization()(x)
    x = layers.Dense(2048, activation="relu", kernel_initializer=he_normal(seed=42))(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dense(1024, activation="relu", kernel_initializer=he_normal(seed=42))(x)
    x = layers.BatchNormalization()(x)
    return layers.Dense(5, activation="softmax")(x)


HEAD_LAYERS = ["batch_normalization", "dense", "batch_normalization_1", "dense_1", "batch_normalization_2", "dense_2"]
HEAD_WEIGHTS = {"batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"], "dense": ["kernel", "bias"]}


def head_weight_names(layer):
    return HEAD_WEIGHTS[layer.rstrip("_0123456789")]


def adam_step_sizes(opt, steps):
    """Adam's step size lr·sqrt(1−β2^t)/(1−β1^t) for t = 1..steps, with the TensorFlow float32 ops
    of tf_keras/src/optimizers/adam.py's update_step."""
    import tensorflow as tf
    out = []
    for t in range(1, steps + 1):
        local_step = tf.cast(t, tf.float32)
        b1p = tf.pow(tf.cast(opt.beta_1, tf.float32), local_step)
        b2p = tf.pow(tf.cast(opt.beta_2, tf.float32), local_step)
        lr = tf.cast(opt.learning_rate, tf.float32)
        out.append(float((lr * tf.sqrt(1 - b2p) / (1 - b1p)).numpy()))
    return out


@section("head")
def head():
    """The article's head in tf-keras from flowerlib's initial weights, trained on the same batches."""
    import tf_keras

    for spec in JOB["head"]:
        kind, flatten = spec["kind"], spec["kind"] == "flatten"
        feats = np.load(path(spec["features"])).astype(np.float32)
        tf_keras.backend.clear_session()
        inp = tf_keras.Input(feats.shape[1:])
        model = tf_keras.Model(inp, seed_head(tf_keras, inp, flatten))
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        # Keras' own initial kernels: do both he_normal(seed=42) layers draw the same stream?
        k0, k1 = model.get_layer("dense").get_weights()[0], model.get_layer("dense_1").get_weights()[0]
        RESULTS["he_normal_%s" % kind] = {
            "dense_1_equals_dense_prefix": bool(np.array_equal(k1.ravel(), k0.ravel()[:k1.size])),
            "dense_1_equals_dense_block": bool(k0.shape[0] >= k1.shape[0] and np.array_equal(k1, k0[:k1.shape[0], :k1.shape[1]])),
            "dense_std": float(k0.std()), "dense_1_std": float(k1.std()),
        }
        for name in HEAD_LAYERS:
            layer = model.get_layer(name)
            layer.set_weights([np.load(path("head_%s_init_%s_%s.npy" % (kind, name, w))) for w in head_weight_names(name)])
        init = model.get_weights()
        labels = np.asarray(spec["labels"])
        onehot = np.eye(5, dtype=np.float32)[labels]
        losses, accs = [], []
        for idx in spec["batches"]:
            loss, acc = model.train_on_batch(feats[idx], onehot[idx])
            losses.append(float(loss))
            accs.append(float(acc))
        final = {}
        for name in HEAD_LAYERS:
            for w, v in zip(head_weight_names(name), model.get_layer(name).get_weights()):
                np.save(path("head_%s_final_%s_%s.npy" % (kind, name, w)), v.astype(np.float32))
                final[name + "/" + w] = v
        # Keras against itself: the same steps with each batch's rows reversed, which changes only
        # the order of float32 sums. Its differences are the noise floor of any two implementations.
        model.set_weights(init)
        model.optimizer.iterations.assign(0)
        for v in model.optimizer.variables[1:]:
            v.assign(np.zeros(v.shape, v.dtype.as_numpy_dtype))
        losses2 = [float(model.train_on_batch(feats[idx[::-1]], onehot[idx[::-1]])[0]) for idx in spec["batches"]]
        noise = {}
        for name in HEAD_LAYERS:
            for w, v in zip(head_weight_names(name), model.get_layer(name).get_weights()):
                ref = final[name + "/" + w]
                noise[name + "/" + w] = float(np.linalg.norm((v - ref).astype(np.float64)) / np.linalg.norm(ref.astype(np.float64)))
        alphas = adam_step_sizes(model.optimizer, len(losses))
        # Keras in float64: the trajectory float32 rounding leaves; both runs' distance to it.
        tf_keras.backend.clear_session()
        tf_keras.backend.set_floatx("float64")
        inp = tf_keras.Input(feats.shape[1:], dtype="float64")
        m64 = tf_keras.Model(inp, seed_head(tf_keras, inp, flatten))
        m64.compile(loss="categorical_crossentropy", optimizer="adam")
        m64.set_weights([w.astype(np.float64) for w in init])
        f64 = feats.astype(np.float64)
        losses64 = [float(m64.train_on_batch(f64[idx], onehot[idx].astype(np.float64))) for idx in spec["batches"]]
        for name in HEAD_LAYERS:
            for w, v in zip(head_weight_names(name), m64.get_layer(name).get_weights()):
                np.save(path("head_%s_final64_%s_%s.npy" % (kind, name, w)), v.astype(np.float32))
        tf_keras.backend.set_floatx("float32")
        RESULTS["head_%s" % kind] = {
            "losses": losses, "accuracies": accs, "losses_reversed_batches": losses2,
            "l2_relative_reversed_batches": noise, "adam_step_sizes": alphas, "losses_float64": losses64,
        }


@section("bn")
def bn():
    """Which batch variance BatchNormalization's moving variance takes, in training: one step from
    moving_variance = 1, so the batch variance is (moving − 0.99) / 0.01; compared with the biased
    (÷n) and unbiased (÷(n−1)) variance of the batch."""
    import tf_keras
    import keras

    rng = np.random.default_rng(3)
    out = {}
    for name, shape in (("2d", (32, 16)), ("4d", (4, 3, 3, 16))):
        x = rng.normal(1, 2, shape).astype(np.float32)
        axes = tuple(range(len(shape) - 1))
        n = int(np.prod([shape[a] for a in axes]))
        biased, unbiased = x.var(axis=axes, dtype=np.float64), x.var(axis=axes, ddof=1, dtype=np.float64)
        for lib, mod in (("tf_keras", tf_keras), ("keras3", keras)):
            layer = mod.layers.BatchNormalization()
            layer(x, training=True)
            mv = np.asarray(layer.moving_variance, dtype=np.float64)
            implied = (mv - 0.99) / 0.01
            out["%s_%s" % (lib, name)] = {
                "n": n, "vs_biased": float(np.max(np.abs(implied / biased - 1))),
                "vs_unbiased": float(np.max(np.abs(implied / unbiased - 1))),
            }
    RESULTS["bn_moving_variance"] = out


@section("split")
def split():
    """The article's labels table and split: pandas sample(frac=1, random_state=42), then sklearn's
    train_test_split(test_size=0.2, random_state=42). Folders are listed sorted, where the article's
    os.listdir order is the file system's, so that the figure is reproducible."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    root = JOB["sample"]
    rows = []
    for c in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))):
        rows += [(c + "/" + f, c) for f in sorted(os.listdir(os.path.join(root, c)))]
    labels = pd.DataFrame({"images": [r[0] for r in rows], "labels": [r[1] for r in rows]})
    labels = labels.sample(frac=1, random_state=42)
    train, valid = train_test_split(labels.images.values, test_size=0.2, random_state=42)
    json.dump({"train": [str(v) for v in train], "valid": [str(v) for v in valid]}, open(path("split.json"), "w"))


@section("summary")
def summary():
    """tf-keras model.summary() of the article's model: frozen ResNet50 + the head."""
    import tf_keras

    for kind in ("flatten", "avg"):
        tf_keras.backend.clear_session()
        base = tf_keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3),
                                              pooling=None if kind == "flatten" else kind)
        for layer in base.layers:
            layer.trainable = False
        model = tf_keras.Model(base.input, seed_head(tf_keras, base.output, kind == "flatten"))
        lines = []
        model.summary(line_length=250, print_fn=lambda s, **kw: lines.append(s))
        open(path("summary_%s.txt" % kind), "w").write("\n".join(lines) + "\n")


def fastai_tensor_ops():
    """The torch operations fastai's combine_scheds uses: torch's own when it is installed (Debian's
    /usr/bin/python3 has torch 1.13), else numpy with float32, which torch's default dtype is
    (recipes_test.go's TestOneCycleFastaiTorch compares the two paths' results)."""
    try:
        import torch
        return {"name": "torch " + torch.__version__, "tensor": torch.tensor, "all": torch.all, "cumsum": torch.cumsum,
                "nonzero_max": lambda m: m.nonzero().max(), "scalar": lambda v: v}
    except ImportError:
        return {"name": "numpy %s float32" % np.__version__, "tensor": lambda v: np.array(v, dtype=np.float32), "all": np.all,
                "cumsum": lambda v, d: np.cumsum(v, d, dtype=np.float32), "nonzero_max": lambda m: np.nonzero(m)[0].max(),
                # a Python float against a float32 array: float32 arithmetic, as torch's wrapped scalars
                "scalar": np.float32}


def fastai_fit_one_cycle_hps(lr_max, n_epoch, n_iter, pct_start, div, div_final, moms):
    """The per-batch 'lr' and 'mom' fastai's fit_one_cycle sets, written as fastai's source computes
    them. fastai is not installed here: the functions below are fastai/callback/schedule.py's
    sched_cos, SchedCos, combine_scheds and combined_cos, its ParamScheduler.before_batch and
    fit_one_cycle's scheds, and fastai/callback/core.py's TrainEvalCallback (pct_train), with the
    tensor operations of fastai_tensor_ops. lr_max holds one rate per parameter group (fastai's
    lr_max array)."""
    import math
    T = fastai_tensor_ops()

    def sched_cos(start, end, pos): return start + (1 + math.cos(math.pi*(1-pos))) * (end-start) / 2
    def SchedCos(start, end): return lambda pos: sched_cos(start, end, pos)

    def combine_scheds(pcts, scheds):
        assert sum(pcts) == 1.
        pcts = T["tensor"]([0] + list(pcts))
        assert T["all"](pcts >= 0)
        pcts = T["cumsum"](pcts, 0)
        pct_lim = len(pcts) - 2

        def _inner(pos):
            pos = T["scalar"](pos)
            idx = min(T["nonzero_max"](pos >= pcts), pct_lim)
            actual_pos = (pos-pcts[idx]) / (pcts[idx+1]-pcts[idx])
            return scheds[idx](actual_pos.item())
        return _inner

    def combined_cos(pct, start, middle, end):
        return combine_scheds([pct, 1-pct], [SchedCos(start, middle), SchedCos(middle, end)])

    lr_max = np.array(lr_max, dtype=np.float64)
    scheds = {'lr': combined_cos(pct_start, lr_max/div, lr_max, lr_max/div_final),
              'mom': combined_cos(pct_start, *moms)}
    hps = {'lr': [], 'mom': [], 'tensors': T["name"]}
    pct_train = 0.  # TrainEvalCallback.before_fit
    for epoch in range(n_epoch):
        pct_train = epoch/n_epoch  # before_train
        for _ in range(n_iter):
            for n, f in scheds.items():  # ParamScheduler.before_batch: _update_val(self.pct_train)
                hps[n].append(np.asarray(f(pct_train), dtype=np.float64).tolist())
            pct_train += 1./(n_iter*n_epoch)  # after_batch
    return hps


def fastai_even_mults(start, stop, n):
    """fastcore/basics.py's even_mults, which fastai's set_hyper uses for slice(start, stop)."""
    mult = stop/start
    step = mult**(1/(n-1))
    return np.array([start*(step**i) for i in range(n)])


def fastai_one_cycle_cases(cases):
    """fit_one_cycle's hyper-parameters for each of recipes_test.go's oneCycleCase: over
    slice(lo, hi) of `groups` parameter groups (lo = 0: one group at hi)."""
    out = []
    for oc in cases:
        lr_max = fastai_even_mults(oc["lo"], oc["hi"], oc["groups"]) if oc["lo"] else [oc["hi"]]
        hps = fastai_fit_one_cycle_hps(lr_max, oc["epochs"], oc["iters"], oc["pct_start"], oc["div"], oc["div_final"], oc["moms"])
        out.append({"lr_max": list(map(float, lr_max)), "lr": hps["lr"], "mom": hps["mom"], "tensors": hps["tensors"]})
    return out


@section("recipes")
def recipes():
    """The fine-tuning recipes against their frameworks: Keras' label-smoothed and class-weighted
    cross-entropy and one Adam step with them (train_on_batch), scikit-learn's balanced class
    weights, tf-keras' CosineDecay with warm-up, and fastai's one-cycle rates and momentum."""
    import tf_keras
    from sklearn.utils.class_weight import compute_class_weight

    job = JOB["recipes"]
    x = np.asarray(job["x"], dtype=np.float32)
    labels = np.asarray(job["labels"])
    k = job["classes"]
    onehot = np.eye(k, dtype=np.float32)[labels]
    kernel, bias = np.asarray(job["kernel"], dtype=np.float32), np.asarray(job["bias"], dtype=np.float32)
    out = {"losses": []}
    for case in job["losses"]:
        ls, cw = case["label_smoothing"], case["class_weights"]
        tf_keras.backend.clear_session()
        loss = tf_keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=ls)
        model = tf_keras.Sequential([tf_keras.Input((x.shape[1],)), tf_keras.layers.Dense(k)])
        model.set_weights([kernel, bias])
        model.compile(loss=loss, optimizer=tf_keras.optimizers.Adam(learning_rate=job["lr"]))
        logits = model.predict(x, verbose=0)
        per_example = tf_keras.losses.categorical_crossentropy(onehot, logits, from_logits=True, label_smoothing=ls).numpy()
        res = {"loss_unweighted": float(loss(onehot, logits).numpy())}
        if cw is not None:
            sw = np.asarray(cw, dtype=np.float32)[labels]
            res["loss_sample_weight"] = float(loss(onehot, logits, sample_weight=sw).numpy())
            res["sum_over_batch"] = float(np.sum(per_example.astype(np.float64)*sw)/len(labels))
            res["sum_over_weights"] = float(np.sum(per_example.astype(np.float64)*sw)/np.sum(sw))
        step_loss = model.train_on_batch(x, onehot, class_weight=None if cw is None else dict(enumerate(cw)))
        res["train_on_batch_loss"] = float(step_loss)
        res["kernel"], res["bias"] = [w.astype(np.float64).ravel().tolist() for w in model.get_weights()]
        out["losses"].append(res)
    out["balanced"] = compute_class_weight("balanced", classes=np.arange(k), y=labels).tolist()
    c = job["cosine"]
    sched = tf_keras.optimizers.schedules.CosineDecay(initial_learning_rate=c["min_lr"], decay_steps=c["total"]-c["warmup"],
                                                      alpha=c["min_lr"]/c["lr"], warmup_target=c["lr"], warmup_steps=c["warmup"])
    out["cosine_decay"] = [float(sched(s).numpy()) for s in range(c["total"])]
    out["one_cycle"] = fastai_one_cycle_cases(job["one_cycle"])
    RESULTS["recipes"] = out


def fastai_one_cycle_main(job_path):
    """`python oracle.py --fastai-one-cycle JOB`: only job["recipes"]["one_cycle"], printed as JSON
    (needs numpy, and torch if installed; no TensorFlow)."""
    print(json.dumps(fastai_one_cycle_cases(json.load(open(job_path))["recipes"]["one_cycle"])))


def main():
    global DIR, JOB
    if len(sys.argv) == 3 and sys.argv[1] == "--fastai-one-cycle":
        return fastai_one_cycle_main(sys.argv[2])
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    DIR = sys.argv[1]
    JOB = json.load(open(path("job.json")))
    import tensorflow as tf
    import tf_keras
    import keras
    RESULTS["versions"] = {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__, "keras": keras.__version__,
                           "numpy": np.__version__}
    unknown = set(JOB.get("sections", [])) - {name for name, _ in SECTIONS}
    if unknown:
        sys.exit("oracle.py: unknown sections %s" % sorted(unknown))
    for name, fn in SECTIONS:
        if name in JOB.get("sections", []):
            start = time.time()
            fn()
            RESULTS["seconds"][name] = round(time.time() - start, 2)
            print("oracle: %s done in %.1fs" % (name, RESULTS["seconds"][name]), file=sys.stderr, flush=True)
    json.dump(RESULTS, open(path("results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
