"""A training job that can be killed and restarted: the runs that
``tests/run/test_backup_and_restore.py`` stops with SIGKILL and resumes with
``keras_seeds.BackupAndRestore``.

Usage::

    python resume_run.py WORK_DIR CONFIG[,CONFIG...] [--reference]
                         [--save-freq epoch|N] [--pause CONFIG:WHERE ...]
                         [--pause-resumed CONFIG:WHERE ...]

Each CONFIG (``MODEL-FEED``: MODEL ``mlp`` (Dense, Dropout) or ``cnn``
(Conv2D, BatchNormalization, Dropout); FEED ``fit`` (plain
``fit(x, y, shuffle=True)`` with SeedCallback), ``dataset``
(``seeded_dataset``) or ``replicas`` (a K=4 ``SeededModel``)) trains 3
epochs of the digits data, like a job with several stages; a config whose
result is in WORK_DIR is done and skipped, so rerunning the same command
continues the job. Results: ``WORK_DIR/CONFIG.json`` with the SHA-256 of the
final weights, the History (floats as ``repr``) and the manifest's resume
record. ``--reference`` trains without BackupAndRestore.

``--pause CONFIG:WHERE`` (when CONFIG starts afresh; ``--pause-resumed``:
when it resumes from a checkpoint) prints ``PAUSED`` and waits for the
test's SIGKILL at WHERE: ``batch:E:B`` after batch B of epoch E; ``epoch:E`` at the
start of epoch E (after the checkpoint of the epoch before); ``save`` inside
the next checkpoint write, after its temporary file is written and before it
is renamed in.
"""

import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_seeds as ks  # noqa: E402

EPOCHS, BATCH, SEED = 3, 32, 7


def build(model_kind: str) -> keras.Model:
    if model_kind == "mlp":
        return keras.Sequential([
            keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
            keras.layers.Dropout(0.3), keras.layers.Dense(10, activation="softmax")])
    return keras.Sequential([
        keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
        keras.layers.Conv2D(8, 3, padding="same"), keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"), keras.layers.MaxPooling2D(),
        keras.layers.Dropout(0.25), keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax")])


class Pause(keras.callbacks.Callback):
    """Stops the job at one point and waits to be killed."""

    def __init__(self, where: str):
        super().__init__()
        self.where = where.split(":")

    def _pause(self):
        print("PAUSED", ":".join(self.where), flush=True)
        sys.stdin.readline()
        raise SystemExit("not killed")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.where == ["epoch", str(epoch)]:
            self._pause()

    def on_train_batch_end(self, batch, logs=None):
        if self.where == ["batch", str(self._epoch), str(batch)]:
            self._pause()


def pause_in_next_save():
    replace = os.replace

    def pausing_replace(source, target):
        if os.path.basename(target).startswith("checkpoint-"):
            print("PAUSED save", flush=True)
            sys.stdin.readline()
            raise SystemExit("not killed")
        replace(source, target)

    os.replace = pausing_replace


def train(config: str, work: str, reference: bool, save_freq, pause: str | None) -> dict:
    model_kind, feed = config.split("-")
    digits = load_digits()
    x = (digits.data[:320] / 16.0).astype("float32")
    y = digits.target[:320].astype("int32")
    x_val = (digits.data[320:384] / 16.0).astype("float32")
    y_val = digits.target[320:384].astype("int32")
    manifest = os.path.join(work, f"{config}-manifest.json")
    callbacks = [ks.SeedCallback(SEED, manifest=manifest, verbose=0)]
    if not reference:
        callbacks.append(ks.BackupAndRestore(os.path.join(work, f"{config}-backup"),
                                             save_freq=save_freq))
    callbacks += [keras.callbacks.EarlyStopping(monitor="val_loss", patience=3),
                  keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)]
    if pause == "save":
        pause_in_next_save()
    elif pause is not None:
        callbacks.append(Pause(pause))
    if feed == "replicas":
        model = ks.SeededModel(lambda: build(model_kind), replicas=4, seed=SEED)
    else:
        model = build(model_kind)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    if feed == "dataset":
        history = model.fit(ks.seeded_dataset(x, y, batch_size=BATCH, seed=SEED),
                            validation_data=(x_val, y_val), epochs=EPOCHS, verbose=0,
                            callbacks=callbacks)
    else:
        history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True,
                            validation_data=(x_val, y_val), verbose=0, callbacks=callbacks)
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    with open(manifest) as handle:
        resumed = json.load(handle).get("resumed")
    return {"weights_sha256": digest.hexdigest(),
            "history": {key: [repr(v) for v in values]
                        for key, values in sorted(history.history.items())},
            "epochs": list(history.epoch),
            "resumed": resumed}


def main(argv) -> None:
    work, configs = argv[0], argv[1].split(",")
    reference = "--reference" in argv
    options = [] if reference else list(zip(argv[2::2], argv[3::2]))
    save_freq = dict(options).get("--save-freq", "epoch")
    save_freq = save_freq if save_freq == "epoch" else int(save_freq)
    pauses = {}
    for option, value in options:
        if option in ("--pause", "--pause-resumed"):
            config, _, where = value.partition(":")
            pauses[option, config] = where
    for config in configs:
        result_path = os.path.join(work, f"{config}.json")
        if os.path.exists(result_path):
            continue
        backup = os.path.join(work, f"{config}-backup")
        resuming = os.path.isdir(backup) and any(
            name.startswith("checkpoint-") for name in os.listdir(backup))
        pause = pauses.get(("--pause-resumed" if resuming else "--pause", config))
        result = train(config, work, reference, save_freq, pause)
        with open(result_path, "w") as handle:
            json.dump(result, handle)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
