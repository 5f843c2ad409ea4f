"""BackupAndRestore: a killed run, restarted, ends bit for bit where the run
that was never stopped ends.

Keras' own ``keras.callbacks.BackupAndRestore`` restores the weights (with
the optimizer's state) and the epoch number; not the random streams
(Dropout's SeedGenerator is not in saved weights, keras #19796), not the
position in the data (a mid-epoch backup replays the epoch's data from its
start with mid-epoch weights), not the metric sums, History or callback
counters. This one saves
everything the rest of the run depends on, in one checkpoint file
(``records.checkpoint``):

- every variable of the model (weights, BatchNormalization statistics,
  SeedGenerator states), of the optimizer and of the compiled metrics (their
  sums so far in the epoch), and a ``SeededModel``'s engine state (each
  replica's metric state and batch order, diverged and frozen replicas);
- the random streams (``records.run_state``: Python, NumPy, Keras' global
  seed and generator, TensorFlow's global seed) and the data position: the epoch, the batches done in
  it, and the pass of keras-seeds' seeded orders (plain
  ``fit(x, y, shuffle=True)`` under ``SeedCallback``, ``seeded_dataset``,
  a ``SeededModel``'s replicas);
- ``History`` so far, the counters of the stock callbacks passed to the same
  ``fit`` (EarlyStopping, ReduceLROnPlateau, ModelCheckpoint's best,
  ReplicaEarlyStopping), and how often the run was resumed before.

On restart ``fit`` starts at the saved epoch, the state is put back, and the
batches of that epoch already trained are drawn from the data without
training on them, so the next batch is the one the stopped run would have
trained next. A checkpoint is refused, with the reason, if it is truncated or
corrupt or comes from another run (seeds, model variables, training data or
keras-seeds version differ); with ``double_checkpoint=True`` the one before
it is used then.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np

import keras_seeds
from keras_seeds._internal import keras as private
from keras_seeds._validation import must_be
from keras_seeds.data_order import keras_fit
from keras_seeds.data_order.seeded_dataset import pipeline_info
from keras_seeds.records import checkpoint as checkpoints
from keras_seeds.records import model_notes, run_state
from keras_seeds.records.fingerprint import fingerprint_data, json_fingerprint
from keras_seeds.records.fit_call import fit_arguments
from keras_seeds.records.manifest import now
from keras_seeds.records.restorable import RestorableEngine, restorable_attributes
from keras_seeds.seeding.global_rngs import active_seeds

logger = logging.getLogger("keras_seeds")

# ------------------------------------------------------------ JSON + arrays
def encode(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    """``value`` as JSON values; arrays go into ``arrays`` under names starting
    with ``key`` and are referenced by name. Python floats stay exact.

    Example:

    >>> arrays = {}
    >>> encoded = encode({1: [np.ones(2)], "best": np.float32(0.5)}, arrays, "cb")
    >>> decode(encoded, arrays)
    {1: [array([1., 1.])], 'best': 0.5}
    """
    if isinstance(value, np.ndarray):
        name = f"{key}#{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if hasattr(value, "numpy") and not isinstance(value, np.generic):
        return encode(np.asarray(value.numpy()), arrays, key)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, arrays, key), encode(v, arrays, key)]
                             for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays, key) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays, key) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save a value of type {type(value).__name__}")


def decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__tuple__" in value:
            return tuple(decode(v, arrays) for v in value["__tuple__"])
        return {decode(k, arrays): decode(v, arrays) for k, v in value["__dict__"]}
    return value


# ------------------------------------------------------------- what a run is
def state_variables(model) -> dict[str, list]:
    """Every variable a resumed run needs back, by group, each once, in Keras'
    order: ``model`` (weights, statistics, SeedGenerator states),
    ``optimizer`` and ``metrics`` (the compiled metrics' sums). Variables are
    matched by position, not by name: names carry Keras' auto-numbering
    (``sequential_3``), which depends on what the process built before."""
    seen: set[int] = set()

    def once(variables) -> list:
        kept = [v for v in variables if id(v) not in seen]
        seen.update(id(v) for v in kept)
        return kept

    optimizer = getattr(model, "optimizer", None)
    return {"model": once(model.variables),
            "optimizer": once(optimizer.variables) if optimizer is not None else [],
            "metrics": once(model.metrics_variables)}


def _symbolic_batch(call: dict | None):
    """Symbolic tensors like one batch of ``fit``'s training data (to build
    compiled metrics before the first step), or ``None`` if unknown."""
    import tensorflow as tf

    call = call or {}
    x = call.get("x")
    if isinstance(x, tf.data.Dataset):
        return keras.tree.map_structure(
            lambda spec: keras.KerasTensor(tuple(spec.shape), spec.dtype.name), x.element_spec)
    if x is None:
        return None

    def symbolic(array):
        array = np.asarray(array)
        dtype = "string" if array.dtype.kind in "OUS" else str(array.dtype)
        return keras.KerasTensor((None,) + array.shape[1:], dtype)

    return tuple(None if part is None else keras.tree.map_structure(symbolic, part)
                 for part in (x, call.get("y"), call.get("sample_weight")))


def _describe(variable) -> list:
    return [list(variable.shape), keras.backend.standardize_dtype(variable.dtype)]


def _signature(groups: dict[str, list]) -> list:
    return [[group, *_describe(v)] for group in ("model", "optimizer") for v in groups[group]]


def _entry(value: Any, described: str) -> dict[str, Any]:
    return {"value": value, "described": described}


def run_identity(model, call: dict | None, groups: dict[str, list]) -> dict[str, Any]:
    """What must be the same for a checkpoint to belong to this run: seeds,
    model and optimizer variables, training data, keras-seeds version."""
    seeds = active_seeds()
    seed = None if seeds is None else seeds.to_config()
    described = "no seed set" if seeds is None else f"master seed {seeds.master}"
    engine = dict(model.checkpoint_identity()) if isinstance(model, RestorableEngine) else {}
    if "seed" in engine:
        value, described = engine.pop("seed")
        seed = {**value, "run": seed}
    signature = _signature(groups)
    shapes = ", ".join(str(tuple(shape)) for _, shape, _ in signature[:4])
    shown = (f"{len(groups['model'])} model and {len(groups['optimizer'])} optimizer "
             f"variables (shapes {shapes}{', ...' if len(signature) > 4 else ''})")
    identity = {
        "seed": _entry(seed, described),
        "architecture": _entry(json_fingerprint(signature), shown),
        "keras_seeds_version": _entry(keras_seeds.__version__,
                                      f"keras-seeds {keras_seeds.__version__}"),
    }
    identity.update({name: _entry(*entry) for name, entry in engine.items()})
    if call is not None and call.get("x") is not None:
        data = {name: call.get(name) for name in ("x", "y", "sample_weight")}
        digest = json_fingerprint(fingerprint_data(data))
        identity["data"] = _entry(digest, f"training data with fingerprint {digest[:12]}")
    return identity


def _callback_list(call: dict | None) -> list:
    callbacks = (call or {}).get("callbacks") or []
    return list(getattr(callbacks, "callbacks", callbacks))


def _stateful_callbacks(call: dict | None) -> dict[str, tuple[Any, tuple[str, ...]]]:
    found = {}
    for index, callback in enumerate(_callback_list(call)):
        attributes = restorable_attributes(callback)
        if attributes is not None:
            found[f"{index}:{type(callback).__name__}"] = (callback, attributes)
    return found


# -------------------------------------------------------------- the callback
class BackupAndRestore(keras.callbacks.Callback):
    """A drop-in for ``keras.callbacks.BackupAndRestore`` whose resumed run is
    bit-identical to the run that was never stopped.

    Pass it to ``fit`` with the same ``backup_dir`` every time the job starts.
    While training it writes a checkpoint every epoch (or every ``save_freq``
    batches). If the job dies (SIGKILL, preemption, a lost Colab runtime), the
    restarted ``fit`` continues from the newest whole checkpoint: at its epoch,
    after the batches already trained, with every weight, optimizer slot,
    metric sum, random stream and data order as they were, so the final
    weights and ``History`` equal those of an uninterrupted run, bit for bit
    (on the same machine and versions). Use it with
    :class:`~keras_seeds.SeedCallback` (or :func:`~keras_seeds.seed_everything`)
    so that the run is repeatable in the first place, or with a
    :class:`~keras_seeds.SeededModel`.

    Checkpoints are written atomically (temporary file, fsync, rename); the
    previous good one is kept until the next is complete. A truncated or
    corrupt checkpoint, or one from another run (other seeds, model variables,
    training data or keras-seeds version), is refused with a warning naming
    what differs, and the one before it is used (kept with
    ``double_checkpoint=True``); if none is usable, ``fit`` raises
    ``ValueError`` rather than overwrite the directory.

    Args:
        backup_dir: directory for the checkpoints (on Colab, a folder on the
            mounted Google Drive; on a cluster, shared storage that outlives
            the job).
        save_freq: ``"epoch"`` to save at the end of every epoch, or an int
            ``N`` to save every ``N`` batches.
        double_checkpoint: as in Keras, keep the two newest checkpoints
            (twice the disk space) instead of one. If the newest cannot be
            used on restart (damaged on disk after it was written, or from
            another run), the run resumes from the one before it, one save
            interval earlier, still bit for bit. Without it such a
            checkpoint makes ``fit`` raise ``ValueError``. Either way a kill,
            even during a write, never leaves a half-written checkpoint: each
            is written whole before the one it replaces is removed.
        delete_checkpoint: remove the checkpoints when training ends.

    Limits: the seeded data orders are restored exactly for fits without
    ``steps_per_epoch`` (with it, Keras keeps one data iterator across epochs,
    and the run resumes at the saved epoch with the data from its start). A
    ``tf.data`` pipeline of your own that shuffles with TensorFlow's stateful
    ops cannot be put back; wrap it in :func:`~keras_seeds.seeded_dataset`.

    Example:

    >>> import tempfile, numpy as np, keras, keras_seeds as ks
    >>> backup = tempfile.mkdtemp()
    >>> seed = ks.SeedCallback(1, manifest=None, verbose=0)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.2),
    ...                           keras.layers.Dense(1)])
    >>> model.compile("adam", "mse")
    >>> x, y = np.ones((32, 4)), np.ones((32, 1))
    >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[
    ...     seed, ks.BackupAndRestore(backup, delete_checkpoint=False)])
    >>> # The job restarts with epochs=3: it trains epoch 2 only, History is whole.
    >>> history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
    ...     seed, ks.BackupAndRestore(backup)])
    >>> history.epoch
    [0, 1, 2]
    >>> ks.disable_determinism()
    """

    def __init__(self, backup_dir, save_freq: "str | int" = "epoch",
                 double_checkpoint: bool = False, delete_checkpoint: bool = True):
        super().__init__()
        if backup_dir is None or not isinstance(backup_dir, (str, os.PathLike)) \
                or not os.fspath(backup_dir):
            # Keras' own error types: ValueError for a missing (None) or empty
            # path, TypeError for something that is not a path.
            path_like = backup_dir is None or isinstance(backup_dir, (str, os.PathLike))
            raise must_be("backup_dir", "a non-empty path (str or os.PathLike)", backup_dir,
                          ValueError if path_like else TypeError)
        if save_freq != "epoch" and (isinstance(save_freq, bool)
                                     or not isinstance(save_freq, (int, np.integer))
                                     or save_freq < 1):
            raise must_be("save_freq", "'epoch' or an int >= 1 (save every N batches)",
                          save_freq)
        self.backup_dir = Path(backup_dir)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self.resumed_from: checkpoints.Checkpoint | None = None

    # -- Keras hooks ------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "keras_seeds.BackupAndRestore resumes bit for bit with Keras' TensorFlow "
                f"backend; this Keras runs backend {keras.backend.backend()!r}. Use "
                "keras.callbacks.BackupAndRestore, which resumes at the saved epoch.")
        self._call = fit_arguments(model)
        if not all(layer.built for layer in private.flatten_layers(model)):
            # Keras builds such a model (a Sequential without keras.Input) when
            # the first step is traced; a checkpoint needs its variables now.
            batch = _symbolic_batch(self._call)
            if batch is None:
                raise ValueError(
                    f"BackupAndRestore: model {model.name!r} is not built and its input "
                    "shape cannot be read from fit's data. Give it a keras.Input, or call "
                    "model.build(input_shape) before fit.")
            private.symbolic_build(model, batch)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # Keras builds it when the first step is traced; its slots must
            # exist now to be restored (Keras' own BackupAndRestore does this).
            optimizer.build(model.trainable_variables)
        self._identity = run_identity(model, self._call, state_variables(model))
        self._serial = 0
        self._epoch = int((self._call or {}).get("initial_epoch") or 0)
        self._batches_done = 0          # batches trained in the current epoch
        self._batches_since_save = 0
        self._epoch_ended = False
        self._skip_until = 0
        self._resumes: list[dict] = []
        self._reader = _VariableReader()
        self._written: dict | None = None  # the last checkpoint this fit wrote
        checkpoints.remove_leftovers(self.backup_dir)
        checkpoint, refused = checkpoints.latest_usable(self.backup_dir, self._identity)
        for reason in refused:
            warnings.warn(f"BackupAndRestore: checkpoint refused: {reason}.", UserWarning,
                          stacklevel=2)
        if checkpoint is None and refused:
            raise ValueError(
                f"BackupAndRestore: no usable checkpoint in backup_dir='{self.backup_dir}' "
                f"({len(refused)} refused, see the warnings); it is left as it is. Pass "
                "another backup_dir, or delete this one to start afresh.")
        self._pending = checkpoint
        if checkpoint is None:
            checkpoints.record_resumes(self.backup_dir, [])  # a fresh start
        else:
            meta = checkpoint.meta
            self._serial = int(meta["serial"])
            self._resumes = checkpoints.resumes(self.backup_dir) + [{
                "epoch": meta["epoch"], "batch": meta["batch"],
                "checkpoint": checkpoint.path.name, "at": now()}]
            checkpoints.record_resumes(self.backup_dir, self._resumes)
            self._epoch = int(meta["epoch"])
            private.start_fit_at_epoch(model, self._epoch)
            logger.info("BackupAndRestore: resuming from %s (%s).", checkpoint.path,
                        checkpoints.describe_position(meta))
        # Read by SeedCallback for the manifest.
        model_notes.note(model, resumes=list(self._resumes))

    def on_epoch_begin(self, epoch, logs=None):
        if self._epoch_ended and self.save_freq == "epoch":
            self._settle_epoch_checkpoint()
        self._epoch, self._batches_done, self._epoch_ended = epoch, 0, False
        # fit has read its first epoch: a later fit (even after an exception
        # ends this one) starts where it is asked to.
        private.start_fit_at_epoch(self.model, None)
        if self._pending is not None and self._pending.meta["batch"] == 0:
            self._restore()

    def on_train_batch_begin(self, batch, logs=None):
        if self._pending is not None:
            # Mid-epoch: every on_epoch_begin (learning-rate schedules, ...) has
            # run, as it had when the checkpoint was written.
            self._restore()

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        if done <= self._skip_until:
            return
        self._batches_since_save += done - self._batches_done
        self._batches_done = done
        if self.save_freq != "epoch" and self._batches_since_save >= self.save_freq:
            self._save(self._epoch, done)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_ended = True
        if self.save_freq == "epoch":
            # Written here, as Keras' callback writes it, so that a crash in a
            # later callback's on_epoch_end does not cost the epoch. Callbacks
            # listed after this one have not finished the epoch yet: History's
            # entry for it is added from ``logs``, and once every callback is
            # done (the next epoch's start, or the end of training) the
            # checkpoint is written again if anything else changed.
            self._write(*self._snapshot(epoch + 1, 0, ended=(epoch, logs)))

    def on_train_end(self, logs=None):
        if self._pending is not None:
            # Resumed from the end of training: nothing was left to run.
            self._restore()
        private.start_fit_at_epoch(self.model, None)
        if self.delete_checkpoint:
            checkpoints.remove_directory(self.backup_dir)
        elif self._epoch_ended and self.save_freq == "epoch":
            self._settle_epoch_checkpoint()

    # -- saving -----------------------------------------------------------
    def _save(self, epoch: int, batch: int) -> None:
        self._write(*self._snapshot(epoch, batch))

    def _settle_epoch_checkpoint(self) -> None:
        """Every callback has finished the epoch: rewrites the checkpoint
        written in ``on_epoch_end`` if a callback listed after this one changed
        the run since (ReduceLROnPlateau's learning rate, EarlyStopping's
        counters, the logs History records)."""
        written = self._written
        if written is None:
            return
        meta, arrays = self._snapshot(written["epoch"], 0)
        if not _same_snapshot((meta, arrays), written["snapshot"]):
            self._write(meta, arrays, replaces=written["path"])

    def _write(self, meta: dict, arrays: dict, replaces: Path | None = None) -> None:
        self._serial += 1
        self._batches_since_save = 0
        meta = {**meta, "serial": self._serial, "saved": now()}
        path = checkpoints.write_checkpoint(self.backup_dir, self._serial, meta, arrays,
                                            keep=2 if self.double_checkpoint else 1,
                                            replaces=replaces)
        self._written = {"epoch": meta["epoch"], "path": path, "snapshot": (meta, arrays)}

    def _snapshot(self, epoch: int, batch: int,
                  ended: tuple[int, dict | None] | None = None) -> tuple[dict, dict]:
        """The checkpoint of the run now, standing at ``batch`` of ``epoch``
        (its header without serial and time, and its arrays). ``ended``:
        ``(epoch, logs)`` of an epoch whose end History has not recorded yet."""
        model = self.model
        groups = state_variables(model)
        names = [f"{group}_{i}" for group, variables in groups.items()
                 for i in range(len(variables))]
        variables = [variable for group in groups.values() for variable in group]
        engine = None
        if isinstance(model, RestorableEngine):
            state = model.engine_state()
            names += [f"engine_{name}" for name in state.variables]
            variables += list(state.variables.values())
            engine = {"variables": sorted(state.variables), "diverged": state.diverged,
                      "frozen": state.frozen}
        arrays = dict(zip(names, self._reader.read(variables)))
        callback_state = {}
        for key, (callback, attributes) in _stateful_callbacks(self._call).items():
            callback_state[key] = {name: encode(getattr(callback, name), arrays, key)
                                   for name in attributes if hasattr(callback, name)}
        meta = {
            "identity": self._identity,
            "epoch": int(epoch),
            "batch": int(batch),
            "variables": {group: [[getattr(v, "path", v.name), *_describe(v)] for v in variables]
                          for group, variables in groups.items()},
            "engine": engine,
            "streams": run_state.capture().to_dict(),
            "history": encode(_history_record(getattr(model, "history", None), ended),
                              arrays, "history"),
            "callbacks": callback_state,
        }
        return meta, arrays

    # -- restoring --------------------------------------------------------
    def _restore(self) -> None:
        checkpoint, self._pending = self._pending, None
        model, meta, arrays = self.model, checkpoint.meta, checkpoint.arrays
        self._restore_variables(checkpoint)
        if meta["engine"] is not None:
            # At an epoch's start the metric sums are fit's fresh ones; a checkpoint
            # written when training ended still holds the last epoch's.
            names = [name for name in meta["engine"]["variables"]
                     if not _reset_by_fit(f"engine_{name}", meta["batch"])]
            model.restore_engine_state({name: arrays[f"engine_{name}"] for name in names},
                                       meta["engine"]["diverged"], meta["engine"]["frozen"])
        # The routed array order is this fit's SeedCallback's (its seed is checked
        # above); a checkpoint written after it let go records it as off.
        run_state.restore(run_state.RunState.from_dict({**meta["streams"], "array_order": None}))
        self._restore_data_position(meta["epoch"])
        history = getattr(model, "history", None)
        if history is not None:
            saved = decode(meta["history"], arrays)
            history.history = {k: list(v) for k, v in saved["history"].items()}
            history.epoch = list(saved["epoch"])
        self._restore_callbacks(meta["callbacks"], arrays)
        self._batches_done = int(meta["batch"])
        self._skip_until = int(meta["batch"])
        if self._skip_until:
            private.skip_batches(model, self._skip_until)
        self.resumed_from = checkpoint

    def _restore_variables(self, checkpoint: checkpoints.Checkpoint) -> None:
        model, meta, arrays = self.model, checkpoint.meta, checkpoint.arrays
        saved = meta["variables"]
        groups = state_variables(model)
        if meta["batch"] and len(groups["metrics"]) < len(saved["metrics"]):
            # Mid-epoch, the metric sums so far are needed before the first
            # step, which is when Keras would build the compiled metrics.
            batch = _symbolic_batch(self._call)
            if batch is not None:
                private.symbolic_build(model, batch)
                groups = state_variables(model)
        for group, variables in groups.items():
            found = [_describe(v) for v in variables]
            expected = [entry[1:] for entry in saved[group]]
            if _reset_by_fit(f"{group}_0", meta["batch"]):
                continue
            if found != expected:
                raise ValueError(
                    f"BackupAndRestore: the checkpoint's {group} variables "
                    f"({len(expected)}: {[entry[0] for entry in saved[group]][:4]}...) do not "
                    f"match this model's ({len(found)}); cannot resume from "
                    f"'{checkpoint.path}'.")
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"{group}_{i}"])

    def _restore_data_position(self, epoch: int) -> None:
        call = self._call or {}
        if call.get("steps_per_epoch") is not None:
            warnings.warn(
                "BackupAndRestore: with steps_per_epoch, Keras keeps one data iterator "
                f"across epochs; the run resumes at epoch {epoch} but the data starts over, "
                "so it will not be bit-identical to an uninterrupted run.", UserWarning,
                stacklevel=3)
            return
        # One pass over the data per epoch: the seeded orders continue at this epoch.
        state = keras_fit.state()
        if state is not None and state["active"]:
            keras_fit.start_at(epoch)
        info = pipeline_info(call.get("x"))
        if info is not None:
            info.set_epoch(epoch)

    def _restore_callbacks(self, saved: dict, arrays: dict) -> None:
        found = _stateful_callbacks(self._call)
        for key in sorted(set(saved) - set(found)):
            warnings.warn(f"BackupAndRestore: the checkpoint holds the state of callback "
                          f"{key} (position:class), which this fit was not given; it is "
                          "not restored.", UserWarning, stacklevel=3)
        for key, values in saved.items():
            if key in found:
                callback = found[key][0]
                for name, value in values.items():
                    setattr(callback, name, decode(value, arrays))


def _history_record(history, ended: tuple[int, dict | None] | None) -> dict:
    """What ``History`` holds, with the epoch ``ended`` (``(epoch, logs)``)
    added as its ``on_epoch_end`` will add it, if it has not yet."""
    record = {"history": {k: list(v) for k, v in getattr(history, "history", {}).items()},
              "epoch": list(getattr(history, "epoch", []) or [])}
    if ended is not None and ended[0] not in record["epoch"][-1:]:
        record["epoch"].append(ended[0])
        for key, value in (ended[1] or {}).items():
            record["history"].setdefault(key, []).append(value)
    return record


def _reset_by_fit(array: str, batch: int) -> bool:
    """Whether a resume at ``batch`` leaves checkpoint array ``array`` alone:
    at an epoch's start (batch 0) fit has just reset the compiled metrics'
    sums, and a ``SeededModel``'s per-replica ones."""
    return batch == 0 and array.startswith(("metrics_", "engine_metric_"))


def _what_a_resume_reads(meta: dict, arrays: dict) -> tuple[dict, dict]:
    """The part of a checkpoint that a resume puts back."""
    meta = {k: v for k, v in meta.items() if k not in ("serial", "saved")}
    # The array order is the resumed fit's own SeedCallback's (see _restore).
    meta["streams"] = {**meta["streams"], "array_order": None}
    return meta, {k: v for k, v in arrays.items() if not _reset_by_fit(k, meta["batch"])}


def _same_snapshot(a: tuple[dict, dict], b: tuple[dict, dict]) -> bool:
    """Whether two checkpoints resume the same run, bit for bit."""
    (meta_a, arrays_a), (meta_b, arrays_b) = _what_a_resume_reads(*a), _what_a_resume_reads(*b)
    return meta_a == meta_b and arrays_a.keys() == arrays_b.keys() and all(
        arrays_a[k].dtype == arrays_b[k].dtype and arrays_a[k].shape == arrays_b[k].shape
        and arrays_a[k].tobytes() == arrays_b[k].tobytes() for k in arrays_a)


class _VariableReader:
    """Reads many variables in one TensorFlow call (one by one, each read is an
    eager op of its own: half of a small model's checkpoint time). Traced once
    per list of variables; passing the variables as arguments instead would
    cost more than reading them one by one."""

    def __init__(self):
        self._key: tuple = ()
        self._function = None

    def read(self, variables: list) -> list[np.ndarray]:
        import tensorflow as tf

        key = tuple(id(v) for v in variables)
        if key != self._key:
            self._key = key
            self._function = tf.function(
                lambda: [tf.identity(tf.convert_to_tensor(v)) for v in variables],
                autograph=False)
        return [value.numpy() for value in self._function()]
