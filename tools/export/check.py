"""The Python side of tools/export's tests: loads each exported file with the runtime it is for
and writes that runtime's probabilities on the photos. Usage: check.py DIR, where DIR holds
job.json ({"images": "images.npy", "models": [{"name", "keras", "onnx"}]}) and images.npy
(float32 [n, size, size, 3], RGB 0..255, decoded by flowerlib). Writes DIR/<name>.<runtime>.npy
for the runtimes tf_keras, keras3 and onnxruntime, and DIR/versions.json."""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tf_keras  # noqa: E402
import keras  # noqa: E402  (Keras 3)


def main(d):
    job = json.load(open(os.path.join(d, "job.json")))
    x = np.load(os.path.join(d, job["images"]))
    for m in job["models"]:
        name = m["name"]
        # No custom objects, no compile: the file alone must describe the model.
        tk = tf_keras.models.load_model(m["keras"], compile=False)
        np.save(os.path.join(d, name + ".tf_keras.npy"), tk.predict(x, batch_size=32, verbose=0))
        k3 = keras.saving.load_model(m["keras"], compile=False)
        np.save(os.path.join(d, name + ".keras3.npy"), np.asarray(k3.predict(x, batch_size=32, verbose=0)))
        s = ort.InferenceSession(m["onnx"], providers=["CPUExecutionProvider"])
        inp, out = s.get_inputs()[0], s.get_outputs()[0]
        probs = np.concatenate([s.run([out.name], {inp.name: x[i:i + 32]})[0] for i in range(0, len(x), 32)])
        np.save(os.path.join(d, name + ".onnxruntime.npy"), probs)
        print(name, "tf_keras", len(tk.layers), "layers; keras3", len(k3.layers), "layers; onnx input", inp.name, inp.shape, flush=True)
    json.dump({"tf_keras": tf_keras.__version__, "keras": keras.__version__, "onnxruntime": ort.__version__},
              open(os.path.join(d, "versions.json"), "w"))


if __name__ == "__main__":
    main(sys.argv[1])
