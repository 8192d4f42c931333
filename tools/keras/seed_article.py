"""The article's code (迁移学习理论与实践), run as written with Keras 2 (tf-keras), on a folder of
class folders; it prints Keras' own epoch lines, then the history and seconds per epoch as JSON.

Only what cannot run is changed, each marked "FIX:" below:
  - the missing import of ImageDataGenerator (Keras 2.2-2.4's keras.preprocessing.image, i.e.
    Keras-Preprocessing 1.1.2, wired to Keras as Keras 2.2 did) and keras.utils.np_utils, which
    tf-keras names keras.utils;
  - generate_csv's typos (`I` for `i`, curly quotes) and its crash on the dataset's LICENSE.txt
    (os.listdir lists files too; the real flower_photos.tgz has one at the root);
  - the base's weights: ImageNet's cannot be downloaded here, so weights=None (random, NOT ImageNet);
  - `flower_model.fit_generator(...)` on the model-building function: `model.fit(...)` on the model,
    with the same generators, steps and epochs (fit_generator is fit in Keras >= 2.1).
Everything else is the article's: cv2.imread (BGR!) + cv2.resize to 224x224, LabelEncoder,
train_test_split(test_size=0.2, random_state=42), the generator settings (rescale=1/255,
rotation_range=40, ...), the frozen ResNet50 + Flatten/BN/Dense head, Adam, batch 32,
steps_per_epoch=len(train)/32. Display-only lines (plt.imshow, labels.head()) are left out.

usage: $FLOWERS_PYTHON tools/keras/seed_article.py --data ../shared/data/flower_photos_small [--epochs 2] [--json OUT]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from tqdm import tqdm

import tf_keras as keras  # FIX: the article's `import keras` is Keras 2; tf-keras is Keras 2's API today
from tf_keras.applications.resnet50 import ResNet50
from tf_keras.initializers import he_normal
from tf_keras.layers import BatchNormalization, Dense, Flatten
from tf_keras.models import Model
from tf_keras import utils as np_utils  # FIX: keras.utils.np_utils.to_categorical is keras.utils.to_categorical

import keras_preprocessing  # FIX: the missing import; Keras 2.2's keras.preprocessing.image was this,
keras_preprocessing.set_keras_submodules(backend=keras.backend, utils=keras.utils)  # wired the same way
from keras_preprocessing.image import ImageDataGenerator


def generate_csv(path):
    labels = pd.DataFrame()
    # FIX: only folders are classes (the dataset's LICENSE.txt made os.listdir(path + i) fail)
    items = [f for f in sorted(os.listdir(path)) if os.path.isdir(path + f)]
    for i in tqdm(items):
        images = [path + i + '/' + img for img in os.listdir(path + i)]  # FIX: `I` and curly quotes
        labels_data = pd.DataFrame({'images': images, 'labels': i})
        labels = pd.concat((labels, labels_data))
    labels = labels.sample(frac=1, random_state=42)
    return labels


def read_images(df, resize_dim):
    total = 0
    images_array = []
    for i in tqdm(df.images):
        img = cv2.imread(i)
        img_resized = cv2.resize(img, resize_dim)
        total += 1
        images_array.append(img_resized)
    print(total, 'iamges have resized.')
    return images_array


def flower_model():
    # FIX: weights=None: the ImageNet file cannot be downloaded here (random, NOT ImageNet weights)
    base_model = ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3))
    for layers in base_model.layers:
        layers.trainable = False
    model = Flatten()(base_model.output)
    model = BatchNormalization()(model)
    model = Dense(2048, activation='relu', kernel_initializer=he_normal(seed=42))(model)
    model = BatchNormalization()(model)
    model = Dense(1024, activation='relu', kernel_initializer=he_normal(seed=42))(model)
    model = BatchNormalization()(model)
    model = Dense(5, activation='softmax')(model)
    model = Model(inputs=base_model.input, outputs=model)
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    return model


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch, validation included (what Keras' verbose=2 line shows)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.time() - self.start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder of class folders (the article's ./flowers/)")
    ap.add_argument("--epochs", type=int, default=2, help="the seed trains 30; a few keep the time down")
    ap.add_argument("--json", help="also write the history and timings here")
    a = ap.parse_args()
    start = time.time()
    labels = generate_csv(os.path.join(a.data, ''))
    images_array = read_images(labels, (224, 224))
    X = np.array(images_array)
    lbl = LabelEncoder().fit(list(labels['labels'].values))
    labels['code_labels'] = pd.DataFrame(lbl.transform(list(labels['labels'].values)))
    y = np_utils.to_categorical(labels.code_labels.values, 5)
    X_train, X_valid, y_train, y_valid = train_test_split(X, y, test_size=0.2, random_state=42)
    train_datagen = ImageDataGenerator(rescale=1. / 255, rotation_range=40, width_shift_range=0.4,
                                       height_shift_range=0.4, shear_range=0.2, zoom_range=0.3, horizontal_flip=True)
    val_datagen = ImageDataGenerator(rescale=1. / 255)
    train_generator = train_datagen.flow(X_train, y_train, batch_size=32)
    val_generator = val_datagen.flow(X_valid, y_valid, batch_size=32)
    model = flower_model()
    prepared = time.time() - start
    timer = EpochTimer()
    # FIX: fit on the model (the seed calls fit_generator on the function flower_model)
    history = model.fit(train_generator, steps_per_epoch=len(X_train) / 32, epochs=a.epochs,
                        validation_steps=len(X_valid) / 32, validation_data=val_generator, verbose=2,
                        callbacks=[timer])
    out = {
        "data": a.data, "images": len(X), "train": len(X_train), "valid": len(X_valid), "epochs": a.epochs,
        "prepare_seconds": round(prepared, 1), "seconds_per_epoch": [round(s, 1) for s in timer.seconds],
        "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.history.items()},
        "code_labels": [str(c) for c in lbl.classes_],
        "valid_rows": [str(p) for p in np.asarray(labels.images.values)[
            train_test_split(np.arange(len(X)), test_size=0.2, random_state=42)[1]]],
    }
    print(json.dumps({k: v for k, v in out.items() if k != "valid_rows"}))
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
