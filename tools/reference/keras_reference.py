#!/usr/bin/env python3
"""TensorFlow-Keras reference for `flowers bench`: the article's own stack (the product needs
no Python). Run with the test-only virtual environment's Python ($FLOWERS_PYTHON, .ci/venv.sh:
tensorflow-cpu 2.21 + tf-keras 2.21, the Keras 2 API the seed uses).

Model: tf_keras.applications.ResNet50(weights=None, include_top=False) with the weights of a
Keras-layout .h5 (model.load_weights: the same file flowerlib and PyTorch read), input
preprocessed by tf_keras.applications.resnet50.preprocess_input ('caffe'). Keras' recommended
settings: inference through a compiled tf.function of model(x, training=False) for batches in
memory (Keras' docs: __call__ rather than predict() for inputs that fit in one batch) and
model.predict on a tf.data pipeline (parallel decode, prefetch) for a folder of photos;
training with compile() + train_on_batch / fit; oneDNN on (TF's default on x86);
intra-op threads = --threads, inter-op threads TF's default.

usage: keras_reference.py serve --weights F.h5 --threads N
  one JSON request per stdin line, one JSON answer per stdout line (tasks forward, photos,
  head, augment, finetune), as tools/reference/torch_reference.py serve.
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchutil import Meter, epochs_answer, median, timed_runs


def serve(a):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    import tf_keras as keras

    global tf_, keras_
    tf_, keras_ = tf, keras
    keras.utils.set_random_seed(1)
    base = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg")
    base.load_weights(a.weights)
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
    print(json.dumps({"framework": "TensorFlow %s, tf-keras %s" % (tf.__version__, keras.__version__),
                      "blas": "oneDNN (TF's CPU kernels)" if onednn else "Eigen",
                      "settings": "%d intra-op threads, compiled tf.function of model(x, training=False); predict() on tf.data for photos%s" % (
                          a.threads, ", oneDNN max ISA " + os.environ["ONEDNN_MAX_CPU_ISA"] if os.environ.get("ONEDNN_MAX_CPU_ISA") else "")}),
          flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = TASKS[req["task"]](base, req, a)
        except Exception as e:  # report, keep serving
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        out["task"] = req["task"]
        print(json.dumps(out), flush=True)


def preprocess(x):
    return keras_.applications.resnet50.preprocess_input(x)


def task_forward(base, req, a):
    tf = tf_
    batch, size = req["batch"], req["size"]
    x = tf.random.uniform((batch, size, size, 3), 0, 255, seed=1)
    infer = tf.function(lambda x: base(preprocess(x), training=False))
    with Meter() as m:
        run = lambda: infer(x).numpy()
        for _ in range(2):  # warm-up: traces and compiles the function for this shape
            run()
        with Meter() as timed:
            times = timed_runs(run, req["duration"])
    y = infer(x).numpy()
    assert y.shape == (batch, 2048)
    return {"images_per_sec": batch / median(times), "iterations": len(times), "peak_rss_mib": m.peak,
            "cpu_seconds_per_image": timed.cpu_seconds / (batch * len(times))}


def photo_dataset(paths, size, batch):
    tf = tf_

    def load(p):
        img = tf.io.decode_image(tf.io.read_file(p), channels=3, expand_animations=False)
        return preprocess(tf.image.resize(img, (size, size)))  # bilinear

    return tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=tf.data.AUTOTUNE) \
        .batch(batch).prefetch(tf.data.AUTOTUNE)


def task_photos(base, req, a):
    paths, size, batch = req["paths"], req["size"], req["batch"]
    with Meter() as m:
        y = base.predict(photo_dataset(paths, size, batch), verbose=0)
    assert y.shape == (len(paths), 2048)
    n = len(paths)
    return {"images": n, "seconds": m.seconds, "images_per_sec": n / m.seconds, "peak_rss_mib": m.peak,
            "cpu_seconds_per_image": m.cpu_seconds / n}


def seed_head(keras, input_shape, classes=5):
    """The article's head: Flatten, BN, Dense(2048, relu, he_normal(42)), BN, Dense(1024, ...), BN, Dense(softmax)."""
    L = keras.layers
    layers = [L.Input(input_shape)]
    if len(input_shape) > 1:
        layers.append(L.Flatten())
    layers += [L.BatchNormalization(), L.Dense(2048, activation="relu", kernel_initializer=keras.initializers.he_normal(42)),
               L.BatchNormalization(), L.Dense(1024, activation="relu", kernel_initializer=keras.initializers.he_normal(42)),
               L.BatchNormalization(), L.Dense(classes, activation="softmax")]
    return keras.Sequential(layers)


def task_head(base, req, a):
    import numpy as np

    keras = keras_
    batch = req["batch"]
    shape = (7, 7, 2048) if req["kind"] == "flatten" else (2048,)
    with Meter() as m:
        head = seed_head(keras, shape)
        head.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
        rng = np.random.default_rng(1)
        x = rng.random((batch,) + shape, dtype=np.float32)
        y = keras.utils.to_categorical(rng.integers(0, 5, batch), 5)
        step = lambda: head.train_on_batch(x, y)
        step()  # warm-up: traces the train function, allocates Adam's slots
        with Meter() as timed:
            times = timed_runs(step, req["duration"], min_runs=req.get("min_steps", 2))
    return {"seconds_per_step": median(times), "images_per_sec": batch / median(times), "iterations": len(times),
            "peak_rss_mib": m.peak, "cpu_seconds_per_image": timed.cpu_seconds / (batch * len(times))}


def one_hot_labels(keras, req):
    """The one-hot training and validation labels of req, and the number of classes."""
    classes = max(req["train_labels"] + req["valid_labels"]) + 1
    return (keras.utils.to_categorical(req["train_labels"], classes),
            keras.utils.to_categorical(req["valid_labels"], classes), classes)


def epoch_timer(keras, times):
    """A Keras callback appending each epoch's (seconds, cpu_seconds) to times."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.meter = Meter().__enter__()

        def on_epoch_end(self, epoch, logs=None):
            self.meter.__exit__()
            times.append((self.meter.seconds, self.meter.cpu_seconds))

    return EpochTimer()


def task_augment(base_pooled, req, a):
    """The article's augment mode, its own code: photos read into memory once (read_images), then
    model.fit on ImageDataGenerator(rotation_range=40, width/height_shift_range=0.4,
    shear_range=0.2, zoom_range=0.3, horizontal_flip=True, fill_mode='nearest').flow(batch 32),
    the ResNet50 base frozen, validation each epoch. Time of the last epoch."""
    import numpy as np

    keras, tf = keras_, tf_
    size, batch = req["size"], req["batch"]

    def load(paths):
        return np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=(size, size))) for p in paths])

    xt, xv = load(req["train"]), preprocess(load(req["valid"]))
    yt, yv, classes = one_hot_labels(keras, req)
    gen = keras.preprocessing.image.ImageDataGenerator(
        rotation_range=40, width_shift_range=0.4, height_shift_range=0.4, shear_range=0.2, zoom_range=0.3,
        horizontal_flip=True, fill_mode="nearest", preprocessing_function=preprocess)
    times = []

    with Meter() as m:
        base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(size, size, 3))
        base.set_weights(base_pooled.get_weights())
        base.trainable = False
        head = seed_head(keras, base.output_shape[1:], classes)
        model = keras.Model(base.input, head(base.output))
        model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(gen.flow(xt, yt, batch_size=batch, seed=42), steps_per_epoch=math.ceil(len(xt) / batch),
                  epochs=req["epochs"], validation_data=(xv, yv), batch_size=batch, verbose=0, callbacks=[epoch_timer(keras, times)])
    return epochs_answer(len(xt) + len(xv), times, m.peak)


def task_finetune(base_pooled, req, a):
    """Fine-tuning as Keras does it: the layers of req["stage"] (conv5) set trainable (their
    BatchNormalization then uses batch statistics), the pooled seed head on top, compile with
    Adam(lr req["lr"]), fit on the training photos (read into memory once, not augmented) with
    validation, batch 32. Time of the last epoch."""
    import numpy as np

    keras = keras_
    size, batch, stage = req["size"], req["batch"], req["stage"]

    def load(paths):
        return preprocess(np.stack([keras.utils.img_to_array(keras.utils.load_img(p, target_size=(size, size))) for p in paths]))

    xt, xv = load(req["train"]), load(req["valid"])
    yt, yv, classes = one_hot_labels(keras, req)
    times = []

    with Meter() as m:
        base = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3))
        base.set_weights(base_pooled.get_weights())
        for layer in base.layers:
            layer.trainable = layer.name.startswith(stage + "_")
        model = keras.Sequential([base, seed_head(keras, (2048,), classes)])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=req["lr"]), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(xt, yt, batch_size=batch, epochs=req["epochs"], validation_data=(xv, yv), verbose=0,
                  callbacks=[epoch_timer(keras, times)])
    return epochs_answer(len(xt) + len(xv), times, m.peak)


TASKS = {"forward": task_forward, "photos": task_photos, "head": task_head, "augment": task_augment,
         "finetune": task_finetune}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="benchmark server for flowers bench")
    s.add_argument("--weights", required=True, help="Keras-layout ResNet50 .h5 without the top")
    s.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    serve(a)


if __name__ == "__main__":
    main()
