"""audit(): every source of randomness, whether it is controlled, and the fix."""

from __future__ import annotations

import os
from dataclasses import dataclass

from keras_seeds import _versions
from keras_seeds.records import model_notes
from keras_seeds.seeding import determinism
from keras_seeds.seeding import layer_randomness as generators
from keras_seeds.seeding.global_rngs import active_seeds, hash_seed_fixed

CONTROLLED, UNCONTROLLED, CHECK = "controlled", "NOT controlled", "check"


@dataclass(frozen=True)
class AuditItem:
    """One source of randomness: its status, what was found and how to fix it.

    Example:

    >>> AuditItem("XLA", "controlled", "off").controlled
    True
    """

    source: str
    status: str
    detail: str
    fix: str = ""

    @property
    def controlled(self) -> bool:
        return self.status == CONTROLLED


class AuditReport(list):
    """A list of :class:`AuditItem` that prints as a readable report.

    Example:

    >>> report = AuditReport([AuditItem("XLA", "controlled", "off")])
    >>> print(report)
    keras-seeds audit: sources of randomness
    <BLANKLINE>
    [  controlled  ] XLA  off
    <BLANKLINE>
    1 of 1 controlled.
    >>> report.append(AuditItem("Python random", "NOT controlled", "not seeded",
    ...                         fix="call keras_seeds.seed_everything(seed)"))
    >>> [item.fix for item in report.uncontrolled()]
    ['call keras_seeds.seed_everything(seed)']
    >>> [item.detail for item in report.find("XLA")]
    ['off']
    """

    def uncontrolled(self) -> list[AuditItem]:
        """The items that are not controlled (status other than controlled)."""
        return [item for item in self if not item.controlled]

    def find(self, text: str) -> list[AuditItem]:
        """The items whose source mentions ``text``."""
        return [item for item in self if text in item.source]

    def __str__(self) -> str:
        width = max(len(item.source) for item in self)
        lines = ["keras-seeds audit: sources of randomness", ""]
        for item in self:
            lines.append(f"[{item.status:^14}] {item.source:<{width}}  {item.detail}")
            if item.fix:
                lines.append(f"{'':16} {'':<{width}}  fix: {item.fix}")
        left = len(self.uncontrolled())
        lines += ["", f"{len(self) - left} of {len(self)} controlled." +
                  ("" if not left else f" {left} to look at.")]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def _global_items() -> list[AuditItem]:
    seeds = active_seeds()
    fix_seed = "call keras_seeds.seed_everything(seed) first thing in the script"
    items = []
    for source, sub in (("Python random", "init"), ("NumPy global RNG", "data"),
                        ("Keras global SeedGenerator", "init")):
        if seeds is None:
            items.append(AuditItem(source, UNCONTROLLED, "not seeded by keras-seeds",
                                   fix_seed))
        else:
            items.append(AuditItem(source, CONTROLLED,
                                   f"seeded from the {sub} sub-seed {seeds[sub]} "
                                   f"(master seed {seeds.master})"))
    from keras_seeds._internal import keras as private

    tf_seed = private.tensorflow_global_seed()
    if tf_seed is None:
        items.append(AuditItem("TensorFlow global seed", UNCONTROLLED, "not set", fix_seed))
    else:
        items.append(AuditItem("TensorFlow global seed", CONTROLLED, f"set to {tf_seed}"))
    if hash_seed_fixed():
        items.append(AuditItem("PYTHONHASHSEED", CONTROLLED,
                               "this interpreter's str hashing is fixed"))
    else:
        value = os.environ.get("PYTHONHASHSEED", "0")
        items.append(AuditItem(
            "PYTHONHASHSEED", CHECK,
            "this interpreter started with random str hashing: the iteration order of "
            "sets of str varies from run to run (Keras and keras-seeds do not depend on "
            "it; code of yours that iterates such a set does); children get "
            "PYTHONHASHSEED from os.environ",
            f"start Python with PYTHONHASHSEED={value}"))
    return items


def _version_item() -> AuditItem:
    """The installed Keras and TensorFlow, and whether keras-seeds was tested on them."""
    tested, detail = _versions.version_report()
    if tested:
        return AuditItem("Keras/TensorFlow versions", CONTROLLED, detail)
    return AuditItem("Keras/TensorFlow versions", CHECK, detail,
                     "for versions keras-seeds is tested on: pip install "
                     f"{_versions.tested_pins()}")


def _runtime_items(model) -> list[AuditItem]:
    import keras

    if keras.backend.backend() == "jax":
        return _jax_runtime_items()
    import tensorflow as tf

    items = []
    if determinism.determinism_enabled():
        items.append(AuditItem("Op determinism", CONTROLLED, "TensorFlow op determinism on"))
    else:
        items.append(AuditItem("Op determinism", UNCONTROLLED,
                               "off: some kernels may give different results run to run",
                               "keras_seeds.enable_determinism() or SeedCallback()"))
    threads = determinism.thread_settings()
    if threads["intra_op"] and threads["inter_op"]:
        items.append(AuditItem("Thread pools", CONTROLLED, f"fixed: {threads}"))
    else:
        items.append(AuditItem(
            "Thread pools", CHECK,
            f"TensorFlow's default ({determinism.usable_cores()} cores here): the same on this "
            f"machine, may differ on one with another core count",
            "keras_seeds.enable_determinism(threads=N) before any TF op"))
    if determinism.xla_enabled(model):
        items.append(AuditItem("XLA", UNCONTROLLED, "XLA compiles training; it has "
                               "non-deterministic kernels on GPU",
                               "compile(jit_compile=False) or SeedCallback()"))
    else:
        items.append(AuditItem("XLA", CONTROLLED, "off"))
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        items.append(AuditItem("GPU", CONTROLLED, "none: CPU only"))
    elif determinism.determinism_enabled():
        items.append(AuditItem("GPU", CONTROLLED,
                               f"{len(gpus)} GPU(s), deterministic kernels requested"))
    else:
        items.append(AuditItem("GPU", UNCONTROLLED,
                               f"{len(gpus)} GPU(s): cuDNN picks non-deterministic kernels",
                               "keras_seeds.enable_determinism()"))
    return items


def _jax_runtime_items() -> list[AuditItem]:
    """The JAX backend: XLA compiles every step; on CPU its kernels are
    deterministic, on GPU only with ``--xla_gpu_deterministic_ops=true``."""
    import jax

    gpus = [d for d in jax.devices() if d.platform != "cpu"]
    if not gpus:
        return [AuditItem("XLA (JAX)", CONTROLLED, "CPU only: XLA's CPU kernels are "
                          "deterministic")]
    if determinism.JAX_DETERMINISTIC_FLAG in os.environ.get("XLA_FLAGS", "").split():
        return [AuditItem("XLA (JAX)", CONTROLLED, f"{len(gpus)} accelerator(s), "
                          f"{determinism.JAX_DETERMINISTIC_FLAG} set")]
    return [AuditItem("XLA (JAX)", UNCONTROLLED,
                      f"{len(gpus)} accelerator(s): XLA's GPU kernels are not deterministic",
                      f"start Python with XLA_FLAGS={determinism.JAX_DETERMINISTIC_FLAG} or "
                      "call keras_seeds.enable_determinism() before JAX starts")]


def _model_items(model) -> list[AuditItem]:
    items = []
    reinitialized = model_notes.read(model, "reinitialized")
    if reinitialized is not None:
        items.append(AuditItem("Weight initialisation", CONTROLLED, reinitialized.describe()))
    elif active_seeds() is not None:
        items.append(AuditItem(
            "Weight initialisation", CHECK,
            "controlled only if the model was built after seed_everything()/"
            "SeedCallback(...) was created",
            "build the model after seeding, or SeedCallback(reinitialize=True)"))
    else:
        items.append(AuditItem("Weight initialisation", UNCONTROLLED,
                               "drawn from unseeded Python random at layer construction",
                               "seed_everything(seed) before building the model"))
    for kind, layer, generator in generators.seed_generators(model):
        source = f"{type(layer).__name__} '{layer.name}' SeedGenerator ({kind})"
        if generators.generator_controlled(generator):
            items.append(AuditItem(source, CONTROLLED, "seeded"))
        else:
            items.append(AuditItem(source, UNCONTROLLED,
                                   "seed drawn from Python random when the layer was built",
                                   "SeedCallback(seed) re-seeds it when training begins"))
    order = model_notes.read(model, "data_order")
    if order is None:
        items.append(AuditItem("Data order", CHECK, "not seen yet (no fit with SeedCallback)",
                               "train on keras_seeds.seeded_dataset(x, y, ...)"))
    else:
        status = CONTROLLED if order.startswith("controlled") else UNCONTROLLED
        items.append(AuditItem("Data order", status, order.split(": ", 1)[-1]))
    return items


def audit(model=None) -> AuditReport:
    """Lists each source of randomness and whether it is controlled.

    Covers the Keras and TensorFlow versions (within the range keras-seeds is
    tested on?), Python, NumPy, TensorFlow's global seed, Keras' global and per-layer
    SeedGenerators (with ``model``), weight initialisation, data order,
    ``PYTHONHASHSEED``, op determinism, thread pools, XLA and GPUs. Items that
    are not controlled carry the fix. Also ``keras-seeds audit``.

    Args:
        model: a Keras model whose layers to inspect (optional).

    Returns:
        An :class:`AuditReport` (a list of :class:`AuditItem`); print it.

    Example:

    >>> import keras, keras_seeds as ks
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.5)])
    >>> report = ks.audit(model)
    >>> [item.status for item in report.find("Dropout")]
    ['NOT controlled']
    """
    items = [_version_item()] + _global_items() + _runtime_items(model)
    if model is not None:
        items += _model_items(model)
    return AuditReport(items)
