"""SeedCallback: one line that makes a Keras ``fit`` repeatable and recorded."""

from __future__ import annotations

import warnings
from pathlib import Path

import keras

from keras_seeds._files import jsonable, write_json_atomically
from keras_seeds.data_order import keras_fit
from keras_seeds.data_order.seeded_dataset import pipeline_info
from keras_seeds.integrations.mlflow import log_to_active_run
from keras_seeds.records import manifest as manifest_lib
from keras_seeds.records import model_notes
from keras_seeds.records.fingerprint import (
    fingerprint_data,
    json_fingerprint,
    layer_descriptions,
    weights_fingerprint,
)
from keras_seeds.records.fit_call import fit_arguments
from keras_seeds.seeding import determinism
from keras_seeds.seeding import layer_randomness as generators
from keras_seeds.seeding.contract import Seeds
from keras_seeds.seeding.global_rngs import seed_everything

FIT_ARGUMENTS = ("batch_size", "epochs", "verbose", "validation_split", "shuffle",
                 "class_weight", "initial_epoch", "steps_per_epoch", "validation_steps",
                 "validation_batch_size", "validation_freq")


def _is_array_data(x) -> bool:
    """Arrays, or a list/tuple/dict of them: what Keras shuffles itself."""
    if isinstance(x, dict):
        return all(_is_array_data(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return all(_is_array_data(v) for v in x)
    return hasattr(x, "shape") and hasattr(x, "__len__")


def _input_shape(x):
    """The input shape (batch dimension ``None``) of ``fit``'s ``x``, or ``None``."""
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, tuple) else spec
        return keras.tree.map_structure(lambda s: (None,) + tuple(s.shape[1:]), spec)
    if x is None or not _is_array_data(x):
        return None
    return keras.tree.map_structure(lambda a: (None,) + tuple(a.shape[1:]), x)


def _build_from_data(model, x) -> None:
    """Builds ``model`` from ``fit``'s ``x`` when Keras has not built it yet
    (a ``Sequential`` without ``keras.Input`` is built only when training
    starts): its weights must exist to be re-drawn."""
    if model.built and all(layer.built for layer in generators.layers_of(model)):
        return
    shape = _input_shape(x)
    how = ("Give the model its input first (a `keras.Input(shape)` layer, or "
           "`model.build(input_shape)` before `fit`).")
    if shape is None:
        raise ValueError(
            f"SeedCallback(reinitialize=True): model {model.name!r} is not built yet, so it "
            "has no weights to re-draw, and its input shape cannot be read from what fit "
            f"was given (x of type {type(x).__name__}). {how}")
    try:
        model.build(shape)
    except Exception as error:
        raise ValueError(
            f"SeedCallback(reinitialize=True): model {model.name!r} is not built yet and "
            f"building it for input shape {shape} failed ({error}). {how}") from error


def _replica_record(model, call) -> dict | None:
    """A SeededModel's record of its replicas' seeds (``None`` for a plain model)."""
    record = getattr(model, "seed_record", None)
    if record is None:
        return None
    return record(shuffle=bool((call or {}).get("shuffle", True)))


def _model_section(model) -> dict:
    layers = layer_descriptions(model)
    return {
        "class": type(model).__name__,
        "params": int(model.count_params()) if model.built else None,
        "architecture_sha256": json_fingerprint(layers),
        "layers": [entry["class"] for entry in layers],
    }


def _compile_section(model) -> tuple[dict, dict]:
    optimizer = getattr(model, "optimizer", None)
    optimizer_config = {}
    if optimizer is not None:
        optimizer_config = {"class": type(optimizer).__name__, **optimizer.get_config()}
        optimizer_config.pop("name", None)
    try:
        compile_config = dict(model.get_compile_config() or {})
    except Exception:
        compile_config = {}
    compile_config.pop("optimizer", None)
    compile_config["jit_compile"] = getattr(model, "_jit_compile", None)
    return jsonable(compile_config), jsonable(optimizer_config)


class SeedCallback(keras.callbacks.Callback):
    """Makes ``model.fit`` repeatable bit for bit, and records how to repeat it.

    ``model.fit(x, y, callbacks=[SeedCallback(42)])``:

    - seeds Python, NumPy, TensorFlow and Keras when constructed (so a model
      built after it is initialised from the seed) and again when training
      begins;
    - turns on TensorFlow op determinism and compiles without XLA
      (``deterministic=True``);
    - re-seeds every ``SeedGenerator`` in the model (Dropout, GaussianNoise,
      RandomFlip, ..., nested models and custom layers too) from the
      ``noise``/``augment`` sub-seeds;
    - with ``reinitialize=True``, re-draws all weights from the ``init``
      sub-seed (never done silently: pretrained weights stay untouched);
    - orders every epoch from the ``data`` sub-seed: plain
      ``fit(x, y, shuffle=True)`` on arrays (pass ``e`` of the arrays is
      ``pass_order(n, [data seed, e])``, a new order every epoch, the order a
      ``SeededModel`` replica and :func:`~keras_seeds.seeded_dataset` with that
      data seed see; ``initial_epoch`` continues the sequence) and
      :func:`~keras_seeds.seeded_dataset` pipelines alike, and warns when the
      batch order is not under its control (a ``tf.data`` pipeline of yours);
    - adds ``seed`` to the epoch logs (and so to ``History``);
    - writes a JSON run manifest (see ``keras-seeds diff``).

    Args:
        seed: master seed (int in ``[0, 2**32 - 1]``), a
            :class:`~keras_seeds.Seeds` with pinned sub-seeds, or ``None`` to
            draw one from OS entropy (printed once and recorded).
        reinitialize: re-draw every weight from the ``init`` sub-seed when
            training begins.
        deterministic: turn on op determinism and turn off XLA.
        threads: fix TensorFlow's thread pools (must come before any TF op).
        manifest: where to write the manifest: ``"auto"`` (default) for
            ``keras-seeds-<seed>.json`` in the working directory, a path, or
            ``None`` for none.
        verbose: print the seed when it was drawn at random.

    Attributes:
        seed: the master seed (an int).
        seeds: the :class:`~keras_seeds.Seeds` with all sub-seeds.
        manifest_path: the manifest's path, or ``None``.

    Example:

    >>> import numpy as np, keras, keras_seeds as ks
    >>> callback = ks.SeedCallback(42, manifest=None)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.1),
    ...                           keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x, y = np.ones((8, 4)), np.ones((8, 1))
    >>> history = model.fit(ks.seeded_dataset(x, y, batch_size=4), epochs=2,
    ...                     verbose=0, callbacks=[callback])
    >>> history.history["seed"]
    [42, 42]
    >>> ks.disable_determinism()
    """

    def __init__(self, seed: "int | Seeds | None" = None, *, reinitialize: bool = False,
                 deterministic: bool = True, threads: int | None = None,
                 manifest: "str | Path | None" = "auto", verbose: int = 1):
        super().__init__()
        self.seeds = Seeds.coerce(seed)
        self.seed = self.seeds.master
        self.reinitialize = bool(reinitialize)
        self.deterministic = bool(deterministic)
        self.threads = threads
        if manifest == "auto":
            manifest = f"keras-seeds-{self.seed}.json"
        self.manifest_path = None if manifest is None else manifest_lib.check_manifest_path(manifest)
        self.verbose = verbose
        if self.deterministic:
            determinism.enable_determinism(threads=threads)
        elif threads is not None:
            determinism.set_threads(threads)
        seed_everything(self.seeds, verbose=bool(verbose))
        # Keras builds fit's input pipeline before any callback hook runs.
        keras_fit.install()
        self._fit_call = None
        self._pipeline = None
        self._manifest: dict = {}

    # -- Keras hooks ------------------------------------------------------
    def set_model(self, model):
        super().set_model(model)
        # set_model runs before fit makes its train function: the last moment
        # to compile without XLA.
        if self.deterministic and getattr(model, "_jit_compile", None) is not False \
                and getattr(model, "compiled", False) and model.jit_compile:
            warnings.warn(
                "SeedCallback: this model was compiled with XLA (jit_compile=True); it "
                "trains without XLA (jit_compile=False), because XLA's kernels are not "
                "deterministic on GPU and the same seed must give the same bits. To keep XLA, "
                "pass SeedCallback(deterministic=False) in a process where no deterministic "
                "one was made (op determinism is process-wide, and under it Keras compiles "
                "without XLA itself): the seeds are still set, but the bits are no longer "
                "guaranteed.", UserWarning, stacklevel=2)
            model.jit_compile = False
            model.train_function = None

    def on_train_begin(self, logs=None):
        seed_everything(self.seeds, verbose=False)
        model = self.model
        self._fit_call = fit_arguments(model)
        self._reinitialized = None
        replicas = _replica_record(model, self._fit_call)
        if self.reinitialize and replicas is not None:
            raise ValueError(
                "SeedCallback(reinitialize=True): a SeededModel draws every replica's weights "
                "from that replica's own init sub-seed when it is built, so there is nothing "
                "to re-draw; pass SeedCallback() without reinitialize.")
        if self.reinitialize:
            _build_from_data(model, (self._fit_call or {}).get("x"))
            self._reinitialized = generators.reinitialize_weights(model, self.seeds.init)
            model_notes.note(model, reinitialized=self._reinitialized)
        n_generators = generators.reseed_generators(model, self.seeds.noise,
                                                    self.seeds.augment)
        self._pipeline = None
        self._array_order = keras_fit.take_over(self.seeds.data)
        self._first_epoch = True
        control = None if replicas is None else replicas.pop("control")
        data_order = self._check_data_order() if control is None else control["data_order"]
        model_notes.note(model, data_order=data_order)
        self._manifest = self._build_manifest(n_generators, data_order)
        if replicas is not None:
            self._manifest["control"].update(control)
            self._manifest["replicas"] = replicas
        self._write_manifest()

    def on_epoch_begin(self, epoch, logs=None):
        if self._pipeline is not None:
            self._pipeline.set_epoch(epoch)
        if self._first_epoch and self._array_order is not None:
            # Keras draws the first pass after this hook: fit's first epoch
            # (initial_epoch) picks it.
            keras_fit.start_at(epoch)
        self._first_epoch = False

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seed"] = self.seed

    def on_train_end(self, logs=None):
        keras_fit.release()
        history = getattr(self.model, "history", None)
        self._manifest["status"] = "finished"
        self._manifest["finished"] = manifest_lib.now()
        # Noted by keras_seeds.BackupAndRestore when this fit may have resumed.
        resumes = model_notes.take(self.model, "resumes")
        if resumes is not None:
            self._manifest["resumed"] = {"count": len(resumes), "from": resumes}
        self._manifest["result"] = {
            "weights_sha256": weights_fingerprint(self.model),
            "history": jsonable(getattr(history, "history", {}) or {}),
            "final_logs": jsonable(logs or {}),
        }
        self._write_manifest()
        log_to_active_run(self.seed, self.seeds.as_dict(), self._manifest)

    # -- helpers ----------------------------------------------------------
    def _check_data_order(self) -> str:
        call = self._fit_call
        if call is None:
            return "unknown: fit() arguments not found (custom training loop?)"
        x = call.get("x")
        epochs = (call.get("epochs") or 1) - (call.get("initial_epoch") or 0)
        info = pipeline_info(x)
        if info is not None:
            self._pipeline = info
            own = "" if info.seed == self.seeds.data else (
                f" (seeded with data seed {info.seed}, not this callback's {self.seeds.data})")
            return f"controlled: keras_seeds.seeded_dataset, a new order every epoch{own}"
        import tensorflow as tf

        if isinstance(x, tf.data.Dataset):
            message = ("the batch order comes from your tf.data pipeline; keras-seeds "
                       "set TensorFlow's global seed from the data sub-seed but cannot "
                       "check the pipeline. Wrap the unbatched dataset in "
                       "keras_seeds.seeded_dataset(ds, batch_size=...) to own it.")
        elif not _is_array_data(x):
            message = (f"the batch order comes from your {type(x).__name__}; keras-seeds "
                       f"cannot control it. Use keras_seeds.seeded_dataset(x, y, ...).")
        elif call.get("shuffle") is True and self._array_order is not None:
            return (f"controlled: Keras' shuffle of the arrays, pass e ordered by "
                    f"keras_seeds pass_order(n, [data seed {self.seeds.data}, e]), a new "
                    "order every epoch")
        elif call.get("shuffle") is True and keras.backend.backend() != "tensorflow":
            message = ("keras-seeds orders fit(x, y, shuffle=True) on arrays with the "
                       "TensorFlow backend only; with backend "
                       f"{keras.backend.backend()} the order is Keras' own. Pass "
                       "keras_seeds.seeded_dataset(x, y, batch_size=...) to get the seeded order.")
        elif call.get("shuffle") is True and epochs > 1:
            message = ("this Keras' fit(x, y, shuffle=True) on arrays cannot be reached "
                       f"by keras-seeds (Keras {keras.__version__}) and repeats the same batch "
                       "order every epoch once a seed is set. Pass "
                       "keras_seeds.seeded_dataset(x, y, batch_size=...) instead to get a "
                       "seeded, different order every epoch.")
        elif call.get("shuffle") == "batch":
            return ("controlled: Keras' shuffle within batches, seeded by TensorFlow's "
                    "global seed (the same within-batch order every epoch)")
        elif call.get("shuffle"):
            return "controlled: one epoch of Keras' seeded shuffle"
        else:
            return "controlled: no shuffling (fixed order)"
        warnings.warn(f"SeedCallback: {message}", UserWarning, stacklevel=3)
        return "not guaranteed: " + message

    def _build_manifest(self, n_generators: int, data_order: str) -> dict:
        model, call = self.model, self._fit_call or {}
        compile_section, optimizer_section = _compile_section(model)
        if self._reinitialized is not None:
            init = f"controlled: {self._reinitialized.describe()}"
        else:
            init = ("controlled only if the model was built after seed_everything/"
                    "SeedCallback(...) was created; not re-drawn by the callback "
                    "(pass reinitialize=True to make it so)")
        return {
            "format": manifest_lib.FORMAT,
            "created": manifest_lib.now(),
            "status": "running",
            "manifest_path": str(self.manifest_path) if self.manifest_path else None,
            "seed": self.seeds.to_config(),
            "control": {
                "initialization": init,
                "noise": f"controlled: {n_generators} SeedGenerator(s) re-seeded",
                "data_order": data_order,
            },
            **manifest_lib.environment_section(),
            "data": {
                "train": fingerprint_data(self._train_data(call)),
                "validation": fingerprint_data(call.get("validation_data")),
            },
            "model": _model_section(model),
            "compile": compile_section,
            "optimizer": optimizer_section,
            "fit": jsonable({k: call.get(k) for k in FIT_ARGUMENTS if k in call}),
        }

    @staticmethod
    def _train_data(call: dict):
        if "x" not in call:
            return None
        parts = {"x": call.get("x")}
        for name in ("y", "sample_weight"):
            if call.get(name) is not None:
                parts[name] = call[name]
        return parts

    def _write_manifest(self):
        if self.manifest_path is not None:
            write_json_atomically(self.manifest_path, self._manifest)
